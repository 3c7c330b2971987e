import fp from 'fastify-plugin'
import fastifyMysql, { type MySQLPromisePool } from '@fastify/mysql'
import { applyMigrations, ensureDatabase } from '@comfy-jobs/db'

declare module 'fastify' {
  interface FastifyInstance {
    mysql: MySQLPromisePool
  }
}

/**
 * A small mysql2 pool with jobs of its own: creating the database and applying migrations at boot,
 * and the readiness probe. Prisma keeps its own pool for the job data.
 */
export default fp(async (app) => {
  const { database, migrateOnStart } = app.config
  if (migrateOnStart) await ensureDatabase(database)
  await app.register(fastifyMysql, {
    promise: true,
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password,
    database: database.database,
    connectionLimit: 2,
    connectTimeout: 2000
  })
  if (migrateOnStart) {
    const applied = await applyMigrations(app.mysql, app.log.child({ component: 'migrations' }))
    app.log.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date')
  }
}, { name: 'mysql', dependencies: ['config'] })
