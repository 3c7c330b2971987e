import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url))

/** Prisma Migrate's own bookkeeping table, as `prisma migrate deploy` creates it on MySQL/MariaDB. */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS \`_prisma_migrations\` (
  \`id\` VARCHAR(36) NOT NULL,
  \`checksum\` VARCHAR(64) NOT NULL,
  \`finished_at\` DATETIME(3) NULL,
  \`migration_name\` VARCHAR(255) NOT NULL,
  \`logs\` TEXT NULL,
  \`rolled_back_at\` DATETIME(3) NULL,
  \`started_at\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  \`applied_steps_count\` INTEGER UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (\`id\`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`

const LOCK_NAME = 'comfy_jobs_migrations'
const LOCK_TIMEOUT_S = 30

export interface MigrationFile {
  name: string
  sql: string
  checksum: string
}

export interface MigrationLogger {
  info: (obj: object, msg: string) => void
}

export async function readMigrations (dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter(e => e.isDirectory()).map(e => e.name).sort()
  return Promise.all(names.map(async name => {
    const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8')
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
  }))
}

/** Splits a Prisma migration script into statements (it has no procedures or quoted semicolons). */
export function splitStatements (sql: string): string[] {
  return sql
    .split('\n').filter(line => !line.trim().startsWith('--')).join('\n')
    .split(/;\s*(?:\n|$)/)
    .map(s => s.trim())
    .filter(Boolean)
}

/**
 * Applies pending migrations in name order and records each in `_prisma_migrations` exactly as
 * Prisma does, under a database lock so that services starting together do not race.
 * Returns the names applied by this call.
 */
export async function applyMigrations (pool: Pick<Pool, 'getConnection'>, logger?: MigrationLogger, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir)
  const conn = await pool.getConnection()
  try {
    const [[lock]] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_TIMEOUT_S])
    if (lock?.got !== 1) throw new Error(`could not take the migration lock ${LOCK_NAME} within ${LOCK_TIMEOUT_S}s`)
    try {
      return await applyLocked(conn, files, logger)
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME])
    }
  } finally {
    conn.release()
  }
}

async function applyLocked (conn: PoolConnection, files: MigrationFile[], logger?: MigrationLogger): Promise<string[]> {
  await conn.query(CREATE_MIGRATIONS_TABLE)
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at FROM `_prisma_migrations`')
  const failed = rows.find(r => r.finished_at === null && r.rolled_back_at === null)
  if (failed) {
    throw new Error(`migration ${failed.migration_name} failed earlier and is not resolved; fix the database and mark it rolled back`)
  }
  const applied = new Map(rows.filter(r => r.finished_at !== null && r.rolled_back_at === null)
    .map(r => [r.migration_name as string, r.checksum as string]))
  const done: string[] = []
  for (const file of files) {
    const checksum = applied.get(file.name)
    if (checksum !== undefined) {
      if (checksum !== file.checksum) logger?.info({ migration: file.name }, 'migration was modified after it was applied')
      continue
    }
    const id = randomUUID()
    await conn.query(
      'INSERT INTO `_prisma_migrations` (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, CURRENT_TIMESTAMP(3), 0)',
      [id, file.checksum, file.name])
    try {
      for (const statement of splitStatements(file.sql)) await conn.query(statement)
    } catch (err) {
      await conn.query('UPDATE `_prisma_migrations` SET logs = ? WHERE id = ?', [String((err as Error).stack ?? err), id])
      throw new Error(`migration ${file.name} failed: ${(err as Error).message}`)
    }
    await conn.query(
      'UPDATE `_prisma_migrations` SET finished_at = CURRENT_TIMESTAMP(3), applied_steps_count = 1 WHERE id = ?', [id])
    logger?.info({ migration: file.name }, 'migration applied')
    done.push(file.name)
  }
  return done
}
