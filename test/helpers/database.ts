import { randomBytes } from 'node:crypto'
import mysql from 'mysql2/promise'
import { dropDatabase, ensureDatabase, formatDatabaseUrl, parseDatabaseUrl, type DatabaseLocation } from '@comfy-jobs/db'

const SHARED = process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs_test'

export interface TestDatabase {
  url: string
  loc: DatabaseLocation
  /** a small pool for the test's own assertions */
  pool: mysql.Pool
  drop: () => Promise<void>
}

/** A database of the test file's own (created empty; the gateway migrates it at boot). */
export async function createTestDatabase (name: string): Promise<TestDatabase> {
  const base = parseDatabaseUrl(SHARED)
  const loc = { ...base, database: `cj_t_${name.replace(/[^a-z0-9_]/gi, '_')}_${randomBytes(3).toString('hex')}`.slice(0, 64) }
  await ensureDatabase(loc)
  const pool = mysql.createPool({ ...loc, connectionLimit: 2 })
  return {
    url: formatDatabaseUrl(loc),
    loc,
    pool,
    drop: async () => {
      await pool.end()
      await dropDatabase(loc)
    }
  }
}
