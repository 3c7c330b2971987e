// The batched status reads answer exactly what one read per job answered: the database path (mysql2) against
// Prisma's findUnique + include (the query it replaced), the Redis path against a plain HGETALL.
import t from 'tap'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { v7 as uuidv7 } from 'uuid'
import { applyMigrations, createPrismaClient } from '@comfy-jobs/db'
import { statusKey } from '@comfy-jobs/contracts'
import { JobStore } from '../services/gateway/src/jobs/job-store.ts'
import { StatusRows } from '../services/gateway/src/jobs/status-rows.ts'
import { StatusCache } from '../services/gateway/src/jobs/status-cache.ts'
import { statusFromRow } from '../services/gateway/src/jobs/status-view.ts'
import { createTestDatabase } from './helpers/database.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

const db = await createTestDatabase('status_reads')
t.teardown(() => db.drop())
await applyMigrations(db.pool)
const prisma = createPrismaClient(db.loc, { poolSize: 4 })
t.teardown(() => prisma.$disconnect())

const params = (batch: number) => JSON.stringify({ aspect_ratio: '1:1', width: 1024, height: 1024, seed: 4294967295, batch_size: batch })
const ids = { queued: uuidv7(), processing: uuidv7(), finished: uuidv7(), batch: uuidv7(), failed: uuidv7() }
const insert = 'INSERT INTO jobs (id, status, workflow, model, prompt, params, progress, step, total_steps, error, attempts, worker_id, created_at, started_at, finished_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'
const at = (ms: number) => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, ms))
await db.pool.query(insert, [ids.queued, 'queued', 'text_to_image', 'turbo_fp8', 'a', params(1), 0, null, null, null, 0, null, at(1), null, null, at(1)])
await db.pool.query(insert, [ids.processing, 'processing', 'text_to_image', 'turbo_fp8', 'b', params(1), 42, 3, 8, null, 1, 'w0', at(2), at(3), null, at(4)])
await db.pool.query(insert, [ids.finished, 'finished', 'text_to_image', 'turbo_fp8', 'c', params(1), 100, 8, 8, null, 1, 'w0', at(5), at(6), at(7), at(7)])
await db.pool.query(insert, [ids.batch, 'finished', 'text_to_image', 'turbo_fp8', 'd', params(3), 100, 4, 4, null, 2, 'w1', at(8), at(9), at(10), at(10)])
await db.pool.query(insert, [ids.failed, 'failed', 'text_to_image', 'turbo_fp8', 'e', params(1), 12, 1, 8, 'engine said no', 1, 'w0', at(11), at(12), at(13), at(13)])
const output = 'INSERT INTO outputs (job_id, idx, filename, mime, width, height, bytes, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
await db.pool.query(output, [ids.finished, 0, 'f.png', 'image/png', 1216, 832, 123456, 'a'.repeat(64)])
// inserted out of order, and one output larger than a signed 32-bit int
for (const idx of [2, 0, 1]) await db.pool.query(output, [ids.batch, idx, `b${idx}.png`, 'image/png', 1024, 1024, 3_000_000_000 + idx, 'b'.repeat(64)])

t.test('the database path: one batched query answers what findUnique + include answered, job by job', async t => {
  const store = new JobStore(prisma)
  // the gateway's status-read pool is made so (plugins/mysql.ts): DATETIMEs read as UTC
  const pool = mysql.createPool({ ...db.loc, connectionLimit: 2, timezone: 'Z' })
  t.teardown(() => pool.end())
  const rows = new StatusRows(pool)
  const unknown = uuidv7()
  const asked = [...Object.values(ids), unknown, ids.batch.toUpperCase(), ids.finished]
  // all asked in the same turn of the event loop: one batch
  const batched = await Promise.all(asked.map(id => rows.find(id)))
  const oneByOne = []
  for (const id of asked) oneByOne.push(await store.find(id))
  for (let i = 0; i < asked.length; i++) {
    const before = oneByOne[i]
    const now = batched[i]
    if (before === null) {
      t.equal(now, null, `${asked[i]}: not found, as before`)
      continue
    }
    t.ok(now, `${asked[i]}: found`)
    t.strictSame(statusFromRow(now!), statusFromRow(before), `${asked[i]} (${before.status}): the same status answer`)
  }
  const batch = statusFromRow(batched[asked.indexOf(ids.batch)]!)
  t.strictSame(batch.outputs?.map(o => o.index), [0, 1, 2], 'outputs in index order')
  t.equal(batch.outputs?.[2].bytes, 3_000_000_002, 'unsigned sizes survive as numbers')
  t.equal(batched[6]!.id, ids.batch, 'an id in capitals finds the job, as findUnique did (the id is the row\'s)')
})

t.test('the database path: a failed query rejects every read of its batch', async t => {
  const broken = mysql.createPool({ ...db.loc, port: 1, connectionLimit: 1, connectTimeout: 200 })
  t.teardown(() => broken.end())
  const rows = new StatusRows(broken)
  const results = await Promise.allSettled([rows.find(ids.queued), rows.find(ids.finished)])
  t.strictSame(results.map(r => r.status), ['rejected', 'rejected'])
})

t.test('the Redis path: reads of one turn travel together and answer what HGETALL answers', async t => {
  // MONITOR sees every client's commands: on the shared Redis it counted other tests' reads too
  const own = new PrivateRedis()
  await own.start()
  t.teardown(() => own.stop())
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 })
  t.teardown(() => redis.disconnect())
  const cache = new StatusCache(redis, 60)
  const present = [uuidv7(), uuidv7(), uuidv7()]
  const missing = uuidv7()
  t.teardown(() => redis.del(...present.map(statusKey)))
  await redis.hset(statusKey(present[0]), { job_id: present[0], status: 'queued', progress: '0', image_url: '', error: '' })
  await redis.hset(statusKey(present[1]), { job_id: present[1], status: 'finished', progress: '100', image_url: '/outputs/x.png', error: '', outputs: JSON.stringify([{ index: 0, url: '/outputs/x.png' }]), node: 'ünïcode ✓' })
  await redis.hset(statusKey(present[2]), { job_id: present[2], status: 'failed', error: 'quote " backslash \\ slash / newline \n' })
  const asked = [present[0], missing, present[1], present[2], present[1]]
  const sent: string[] = []
  const watcher = redis.duplicate()
  const monitor = await watcher.monitor()
  t.teardown(() => { monitor.disconnect(); watcher.disconnect() })
  monitor.on('monitor', (_time: string, args: string[]) => { if (args.some(a => typeof a === 'string' && a.startsWith('job:status:'))) sent.push(args[0]) })
  const batched = await Promise.all(asked.map(id => cache.read(id)))
  for (let i = 0; i < asked.length; i++) {
    const hash = await redis.hgetall(statusKey(asked[i]))
    t.strictSame(batched[i], Object.keys(hash).length > 0 ? hash : null, `${asked[i]}: the same hash`)
  }
  // MONITOR reports asynchronously: a marker command sent after the reads arrives after them
  const marker = 'status-reads:marker'
  const markerSeen = new Promise<void>(resolve => monitor.on('monitor', (_time: string, args: string[]) => { if (args[1] === marker) resolve() }))
  await redis.get(marker)
  await markerSeen
  t.equal(sent.filter(c => /^eval/i.test(c)).length, 1, 'the five reads were one command')
})

t.test('the Redis path: with Redis away, every read of the batch fails at once', async t => {
  const redis = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null })
  t.teardown(() => redis.disconnect())
  const cache = new StatusCache(redis, 60)
  const results = await Promise.allSettled([cache.read(uuidv7()), cache.read(uuidv7())])
  t.strictSame(results.map(r => r.status), ['rejected', 'rejected'])
})
