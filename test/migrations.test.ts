// The migration runner (packages/db/src/migrations.ts) keeps `_prisma_migrations` exactly as
// `prisma migrate deploy` does, so that a networked machine's Prisma agrees with it: the table's
// columns, one finished row per migration with the SHA-256 of migration.sql, nothing applied twice
// (also when two services start at once), and a failed migration recorded and then refused.
// Every subtest works in fresh databases of this file's own, dropped at the end.
import { createHash, randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import mysql, { type RowDataPacket } from 'mysql2/promise'
import { applyMigrations, dropDatabase, ensureDatabase, parseDatabaseUrl, type DatabaseLocation } from '@comfy-jobs/db'

const MIGRATIONS = fileURLToPath(new URL('../prisma/migrations', import.meta.url))
const BASE = parseDatabaseUrl(process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs_test')
/** the runner's lock (packages/db/src/migrations.ts LOCK_NAME) */
const LOCK_NAME = 'comfy_jobs_migrations'

interface FreshDatabase {
  loc: DatabaseLocation
  pool: mysql.Pool
  rows: () => Promise<RowDataPacket[]>
}

/** A new empty database (and a pool on it) for one subtest, dropped when that subtest ends. */
async function freshDatabase (t: Test, pools = 1): Promise<FreshDatabase & { extraPools: mysql.Pool[] }> {
  const loc = { ...BASE, database: `cj_test_migrations_${randomBytes(4).toString('hex')}` }
  await ensureDatabase(loc)
  const all = Array.from({ length: pools }, () => mysql.createPool({ ...loc, connectionLimit: 2 }))
  t.teardown(async () => {
    await Promise.all(all.map(async p => p.end()))
    await dropDatabase(loc)
  })
  const pool = all[0]
  return {
    loc,
    pool,
    extraPools: all.slice(1),
    rows: async () => (await pool.query<RowDataPacket[]>(
      'SELECT * FROM `_prisma_migrations` ORDER BY migration_name, started_at'))[0]
  }
}

/** The migration directories and the SHA-256 of each migration.sql, read independently of the runner. */
async function migrationDirs (dir = MIGRATIONS): Promise<Array<{ name: string, checksum: string }>> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter(e => e.isDirectory()).map(e => e.name).sort()
  return Promise.all(names.map(async name => ({
    name,
    checksum: createHash('sha256').update(await readFile(join(dir, name, 'migration.sql'))).digest('hex')
  })))
}

async function tablesOf (pool: mysql.Pool, database: string): Promise<string[]> {
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME', [database])
  return rows.map(r => r.name as string)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('on an empty database it creates _prisma_migrations as Prisma does and records every migration', async t => {
  const db = await freshDatabase(t)
  const dirs = await migrationDirs()
  t.ok(dirs.length > 0, 'there are migrations')

  const applied = await applyMigrations(db.pool)
  t.strictSame(applied, dirs.map(d => d.name), 'returns every migration, in name order')

  const [columns] = await db.pool.query<RowDataPacket[]>(
    `SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, COLUMN_KEY AS \`key\`, EXTRA AS extra
     FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_prisma_migrations' ORDER BY ORDINAL_POSITION`,
    [db.loc.database])
  // MariaDB's spelling: COLUMN_DEFAULT 'NULL' is "DEFAULT NULL", null is "no default"
  t.strictSame(columns.map(c => ({ ...c })), [
    { name: 'id', type: 'varchar(36)', nullable: 'NO', dflt: null, key: 'PRI', extra: '' },
    { name: 'checksum', type: 'varchar(64)', nullable: 'NO', dflt: null, key: '', extra: '' },
    { name: 'finished_at', type: 'datetime(3)', nullable: 'YES', dflt: 'NULL', key: '', extra: '' },
    { name: 'migration_name', type: 'varchar(255)', nullable: 'NO', dflt: null, key: '', extra: '' },
    { name: 'logs', type: 'text', nullable: 'YES', dflt: 'NULL', key: '', extra: '' },
    { name: 'rolled_back_at', type: 'datetime(3)', nullable: 'YES', dflt: 'NULL', key: '', extra: '' },
    { name: 'started_at', type: 'datetime(3)', nullable: 'NO', dflt: 'current_timestamp(3)', key: '', extra: '' },
    { name: 'applied_steps_count', type: 'int(10) unsigned', nullable: 'NO', dflt: '0', key: '', extra: '' }
  ], "exactly Prisma's columns")
  const [[table]] = await db.pool.query<RowDataPacket[]>(
    `SELECT TABLE_COLLATION AS collation FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_prisma_migrations'`,
    [db.loc.database])
  t.match(table.collation, /^utf8mb4_/, 'utf8mb4')
  const [indexes] = await db.pool.query<RowDataPacket[]>(
    `SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_prisma_migrations'`,
    [db.loc.database])
  t.strictSame(indexes.map(i => i.name), ['PRIMARY'], 'no index besides the primary key')

  const rows = await db.rows()
  t.equal(rows.length, dirs.length, 'one row per migration directory')
  for (const dir of dirs) {
    const row = rows.find(r => r.migration_name === dir.name)
    t.ok(row, `${dir.name} is recorded`)
    if (!row) continue
    t.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `${dir.name}: id is a UUID`)
    t.equal(row.checksum, dir.checksum, `${dir.name}: checksum is the SHA-256 hex of migration.sql`)
    t.type(row.finished_at, Date, `${dir.name}: finished_at is set`)
    t.ok(row.finished_at >= row.started_at, `${dir.name}: finished_at is not before started_at`)
    t.equal(row.rolled_back_at, null, `${dir.name}: rolled_back_at is null`)
    t.equal(row.logs, null, `${dir.name}: no logs`)
    t.equal(row.applied_steps_count, 1, `${dir.name}: applied_steps_count is 1`)
  }
  t.equal(new Set(rows.map(r => r.id)).size, rows.length, 'ids are distinct')

  const tables = await tablesOf(db.pool, db.loc.database)
  t.ok(tables.includes('jobs') && tables.includes('outputs'), 'the application tables exist', { tables })

  t.test('running it again applies nothing', async t => {
    const again = await applyMigrations(db.pool)
    t.strictSame(again, [], 'nothing applied')
    t.strictSame(await db.rows(), rows, '_prisma_migrations is unchanged')
  })
})

t.test('two runners started at the same time apply each migration exactly once', async t => {
  const dirs = await migrationDirs()
  for (let round = 1; round <= 3; round++) {
    const db = await freshDatabase(t, 2)
    const [a, b] = [db.pool, db.extraPools[0]]
    const results = await Promise.allSettled([applyMigrations(a), applyMigrations(b)])
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    t.strictSame(failed.map(r => String(r.reason)), [], `round ${round}: both runners succeed`)
    const applied = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    t.strictSame(applied.flat().sort(), dirs.map(d => d.name),
      `round ${round}: between them they applied every migration once`, { applied })
    const [counts] = await db.pool.query<RowDataPacket[]>(
      'SELECT migration_name AS name, COUNT(*) AS n, SUM(finished_at IS NOT NULL) AS finished FROM `_prisma_migrations` GROUP BY migration_name ORDER BY migration_name')
    t.strictSame(counts.map(c => ({ name: c.name, n: Number(c.n), finished: Number(c.finished) })),
      dirs.map(d => ({ name: d.name, n: 1, finished: 1 })), `round ${round}: each migration recorded exactly once, finished`)
  }

  t.test('a runner waits while another holds the migration lock', async t => {
    const db = await freshDatabase(t)
    const holder = await mysql.createConnection({ ...db.loc })
    t.teardown(async () => { await holder.end() })
    const [[got]] = await holder.query<RowDataPacket[]>('SELECT GET_LOCK(?, 10) AS got', [LOCK_NAME])
    t.equal(got.got, 1, 'the test holds the lock')
    let settled = false
    const run = applyMigrations(db.pool).finally(() => { settled = true })
    await sleep(500)
    t.equal(settled, false, 'the runner has not finished while the lock is held')
    t.strictSame(await tablesOf(db.pool, db.loc.database), [], 'and has not touched the database')
    await holder.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME])
    t.strictSame(await run, (await migrationDirs()).map(d => d.name), 'once the lock is free it applies everything')
  })
})

t.test('a failing migration is recorded, named, and refused on the next run', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cj-migrations-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await cp(MIGRATIONS, dir, { recursive: true })
  const good = await migrationDirs()
  const BROKEN = '29991231000000_broken'
  const AFTER = '29991231000001_after_broken'
  await mkdir(join(dir, BROKEN))
  await writeFile(join(dir, BROKEN, 'migration.sql'),
    '-- AlterTable\nALTER TABLE `no_such_table` ADD COLUMN `x` INTEGER NULL;\n')
  const db = await freshDatabase(t)

  await t.rejects(applyMigrations(db.pool, undefined, dir), new RegExp(`migration ${BROKEN} failed`),
    'throws an error naming the migration')
  let rows = await db.rows()
  for (const g of good) {
    const row = rows.find(r => r.migration_name === g.name)
    t.ok(row?.finished_at instanceof Date, `${g.name} (before the broken one) was applied and finished`)
  }
  const failed = rows.filter(r => r.migration_name === BROKEN)
  t.equal(failed.length, 1, 'the failed migration has one row')
  t.equal(failed[0]?.finished_at, null, 'finished_at is NULL')
  t.equal(failed[0]?.rolled_back_at, null, 'rolled_back_at is NULL')
  t.equal(failed[0]?.applied_steps_count, 0, 'applied_steps_count is 0')
  t.match(failed[0]?.logs, /no_such_table/, "logs hold the database's error")
  t.equal(failed[0]?.checksum, (await migrationDirs(dir)).find(d => d.name === BROKEN)?.checksum, 'checksum recorded')

  // a later migration arrives; the runner must not apply it past an unresolved failure
  await mkdir(join(dir, AFTER))
  await writeFile(join(dir, AFTER, 'migration.sql'),
    '-- CreateTable\nCREATE TABLE `after_broken` (\n    `id` INTEGER NOT NULL,\n\n    PRIMARY KEY (`id`)\n) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n')
  const rowsBefore = await db.rows()
  const refusal = await applyMigrations(db.pool, undefined, dir).then(() => null, (err: Error) => err)
  t.ok(refusal, 'the next run refuses')
  t.match(refusal?.message, new RegExp(BROKEN), 'the refusal names the failed migration')
  t.match(refusal?.message, /failed/, 'and says it failed')
  t.match(refusal?.message, /resolve|rolled back/, 'and what to do about it')
  t.strictSame(await db.rows(), rowsBefore, 'the refused run recorded nothing')
  t.notOk((await tablesOf(db.pool, db.loc.database)).includes('after_broken'), 'and applied nothing')
  await t.rejects(applyMigrations(db.pool), new RegExp(BROKEN), 'the real migrations directory is refused too (the failure is in the database)')

  t.test('after `prisma migrate resolve --rolled-back` and a fixed migration, it applies', async t => {
    await db.pool.query('UPDATE `_prisma_migrations` SET rolled_back_at = CURRENT_TIMESTAMP(3) WHERE migration_name = ? AND finished_at IS NULL', [BROKEN])
    await writeFile(join(dir, BROKEN, 'migration.sql'),
      '-- AlterTable\nALTER TABLE `jobs` ADD COLUMN `x` INTEGER NULL;\n')
    t.strictSame(await applyMigrations(db.pool, undefined, dir), [BROKEN, AFTER], 'applies the fixed and the later migration')
    rows = await db.rows()
    const attempts = rows.filter(r => r.migration_name === BROKEN)
    t.equal(attempts.length, 2, 'the rolled-back row stays, a new one is added')
    t.equal(attempts.filter(r => r.rolled_back_at === null && r.finished_at instanceof Date).length, 1, 'one finished attempt')
    t.equal(attempts.filter(r => r.rolled_back_at instanceof Date && r.finished_at === null).length, 1, 'one rolled-back attempt')
    t.strictSame(await applyMigrations(db.pool, undefined, dir), [], 'and then nothing is pending')
  })
})
