import fp from 'fastify-plugin'
import { createPrismaClient, type PrismaClient } from '@comfy-jobs/db'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
  }
}

export default fp(async (app) => {
  const { database, dbPoolSize } = app.config
  const prisma = createPrismaClient(database, { poolSize: dbPoolSize })
  await prisma.$queryRaw`SELECT 1`
  app.decorate('prisma', prisma)
  app.addHook('onClose', async () => { await prisma.$disconnect() })
}, { name: 'prisma', dependencies: ['config', 'mysql'] })
