// `node --import tsx packages/db/src/cli.ts migrate`: create the database if absent, apply migrations.
import mysql from 'mysql2/promise'
import { parseDatabaseUrl } from './database-url.ts'
import { ensureDatabase } from './database.ts'
import { applyMigrations } from './migrations.ts'

const command = process.argv[2]
if (command !== 'migrate') {
  console.error('usage: cli.ts migrate   (reads DATABASE_URL)')
  process.exit(2)
}
const loc = parseDatabaseUrl(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs')
await ensureDatabase(loc)
const pool = mysql.createPool({ ...loc, connectionLimit: 1 })
try {
  const applied = await applyMigrations(pool, { info: (o, m) => console.log(m, JSON.stringify(o)) })
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date')
} finally {
  await pool.end()
}
