import fp from 'fastify-plugin'
import { createPrismaClient, PoolObserver, type PrismaClient } from '@comfy-jobs/db'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
    /** what Prisma's connection pool last saw of the database, and which connection a transaction took */
    databasePool: PoolObserver
  }
}

export default fp(async (app) => {
  const { database, dbPoolSize } = app.config
  const log = app.log.child({ component: 'prisma' })
  let lastLogged = 0
  const observer = new PoolObserver()
  const prisma = createPrismaClient(database, {
    poolSize: dbPoolSize,
    observer,
    onPoolError: err => {
      if (Date.now() - lastLogged > 5000) {
        lastLogged = Date.now()
        log.warn({ err: err.message }, 'database connection failed; the pool keeps retrying')
      }
    }
  })
  await prisma.$queryRaw`SELECT 1`.catch((err: Error) => app.log.warn({ err: err.message }, 'database probe failed at start; Prisma will reconnect on use'))
  app.decorate('prisma', prisma)
  app.decorate('databasePool', observer)
  app.addHook('onClose', async () => { await prisma.$disconnect() })
}, { name: 'prisma', dependencies: ['config', 'mysql'] })
