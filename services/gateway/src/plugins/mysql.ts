import fp from 'fastify-plugin'
import fastifyMysql, { type MySQLPromisePool } from '@fastify/mysql'
import mysql from 'mysql2/promise'
import { applyMigrations, ensureDatabase } from '@comfy-jobs/db'

declare module 'fastify' {
  interface FastifyInstance {
    mysql: MySQLPromisePool
  }
}

const RETRY_MS = 2000

/**
 * A small mysql2 pool with jobs of its own: creating the database and applying migrations at boot,
 * the readiness probe, and the status reads that miss Redis (jobs/status-rows.ts: at most 2 batched
 * queries at once, so they never hold every connection). Prisma keeps its own pool for the rest. When the database is down at
 * boot the gateway starts degraded and keeps trying to migrate in the background.
 */
export default fp(async (app) => {
  const { database, migrateOnStart } = app.config
  const log = app.log.child({ component: 'migrations' })
  const options = {
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password,
    database: database.database,
    connectionLimit: 4,
    connectTimeout: 2000,
    // Prisma writes DATETIMEs as UTC; read them as UTC whatever the process's time zone
    timezone: 'Z'
  }
  const migrate = async () => {
    await ensureDatabase(database, 2000)
    if (!migrateOnStart) return
    const applied = await applyMigrations(app.mysql, log)
    log.info({ applied }, applied.length ? 'migrations applied' : 'database schema is up to date')
  }

  const reachable = await ensureDatabase(database, 2000).then(() => true, () => false)
  if (reachable) {
    await app.register(fastifyMysql, { promise: true, ...options })
  } else {
    // @fastify/mysql fails the boot when its first query fails; start degraded with the same pool shape.
    const pool = mysql.createPool(options)
    app.decorate('mysql', {
      pool,
      query: pool.query.bind(pool),
      execute: pool.execute.bind(pool),
      getConnection: pool.getConnection.bind(pool),
      format: mysql.format,
      escape: mysql.escape,
      escapeId: mysql.escapeId
    } as unknown as MySQLPromisePool)
    app.addHook('onClose', async () => { await pool.end() })
  }

  try {
    await migrate()
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'database unavailable at start; starting degraded and retrying migrations')
    let timer: NodeJS.Timeout
    const retry = () => {
      timer = setTimeout(() => migrate().catch(() => retry()), RETRY_MS)
    }
    retry()
    app.addHook('onClose', async () => clearTimeout(timer))
  }
}, { name: 'mysql', dependencies: ['config'] })
