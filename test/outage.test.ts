// Dependencies failing under the gateway: the database unreachable, the commit failing after the push,
// and a start with Redis and the database both down.
import t, { type Test } from 'tap'
import { readdir } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'
import { cuttableSystem } from './helpers/cuttable-system.ts'

async function keyCount (redis: Redis, pattern: string): Promise<number> {
  let cursor = '0'
  let n = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    n += keys.length
  } while (cursor !== '0')
  return n
}

t.test('database unreachable during submit: a fast 5xx, and nothing left in Redis', async t => {
  const { sys, dbProxy, client } = await cuttableSystem(t, 'dbdown')
  const ok = await sys.submit({ prompt: 'before the outage' })
  t.equal(ok.status, 200)

  dbProxy.cut(true)
  const res = await sys.submit({ prompt: 'during the outage' })
  t.equal(res.status, 503, 'a 503 the client may retry later')
  t.ok(res.ms < 15_000, `bounded, without waiting for the database, which is still down (${res.ms.toFixed(0)} ms)`)
  t.type(res.body.error, 'string', `a clear error: ${res.body.error} / ${res.body.code}`)
  t.equal(res.body.code, 'DATABASE_UNAVAILABLE', 'blamed on the database, not the queue or load')
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.prioritized, 1, 'no queue entry for it (only the earlier job)')
  t.equal(await keyCount(client, 'job:status:*'), 1, 'no status key for it')

  const status = await sys.status(ok.body.job_id)
  t.equal(status.body.source, 'redis', 'status reads still answer from Redis')

  dbProxy.resume()
  let again = await sys.submit({ prompt: 'after the outage' })
  for (let i = 0; i < 50 && again.status !== 200; i++) { await sleep(200); again = await sys.submit({ prompt: 'after the outage' }) }
  t.equal(again.status, 200, 'submits work again once the database is back, without a restart')
  const [rows] = await sys.db.pool.query("SELECT prompt FROM jobs ORDER BY created_at") as any
  t.same(rows.map((r: any) => r.prompt), ['before the outage', 'after the outage'], 'no row from the outage')
})

t.test('database connections dying at any byte of their start never take the gateway down', async t => {
  // A pool connection that dies while the driver still sets it up must fail the query that waited
  // for it, not surface as an unhandled rejection that closes the gateway.
  const { sys, dbProxy } = await cuttableSystem(t, 'dbchaos', { DB_POOL_SIZE: '4' })
  t.equal((await sys.submit({ prompt: 'before the chaos' })).status, 200)
  let cuts = 0
  dbProxy.cutEachAfter(() => { cuts++; return 1 + Math.floor(Math.random() * 400) })
  dbProxy.cut() // the pool must open new connections, each through the chaos
  const statuses = new Map<number, number>()
  // until 20 connections have died (how long that takes depends on the machine's load), within a wide bound
  const until = Date.now() + 180_000
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (cuts < 20 && Date.now() < until) {
      const res = await sys.submit({ prompt: 'during the chaos' })
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    }
  }))
  dbProxy.resume()
  t.ok(cuts >= 20, `connections were cut at random points (${cuts})`)
  t.ok([...statuses.keys()].every(s => s === 200 || s === 503 || s === 500), `every submit got an answer: ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.equal(sys.gateway!.child.exitCode, null, 'the gateway is still running')
  t.notOk(sys.gateway!.logs.some(l => l.msg === 'gateway closing after an error'), 'and never began closing on an error')
  let after = await sys.submit({ prompt: 'after the chaos' })
  for (let i = 0; i < 50 && after.status !== 200; i++) { await sleep(200); after = await sys.submit({ prompt: 'after the chaos' }) }
  t.equal(after.status, 200, 'submits work again once connections last')
})

t.test('the commit fails after the push: the queue entry and status key are removed', async t => {
  const { sys, dbProxy, client } = await cuttableSystem(t, 'commitfail', { QUEUE_PUSH_TIMEOUT_MS: '5000', REDIS_COMMAND_TIMEOUT_MS: '5000' })
  // Writes to Redis stall for 1.5 s, so the push is still in flight when the database link is cut.
  await client.call('CLIENT', 'PAUSE', '1500', 'WRITE')
  const pending = sys.submit({ prompt: 'commit will fail' })
  const inserted = await sys.gateway!.waitForLog(l => l.step === 'db_insert')
  dbProxy.cut(true)
  // back once the commit has failed, so the gateway can ask the database what became of the row
  await sys.gateway!.waitForLog(l => l.job_id === inserted.job_id && l.step === 'commit_failed')
  dbProxy.resume()
  const res = await pending

  t.ok(res.status >= 500, `5xx (${res.status}: ${res.body.error})`)
  t.equal(res.body.code, 'JOB_CREATE_FAILED', 'a plain failure: the database said the row did not commit')
  const id = inserted.job_id
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === id && l.step === 'queue_push'), 'the push did succeed')
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === id && l.step === 'commit_failed'), 'then the commit failed')
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === id && l.step === 'compensated'), 'and the gateway compensated')
  t.equal(await client.exists(`job:status:${id}`), 0, 'the status key is removed')
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.prioritized + counts.active, 0, 'the queue entry is removed')
  t.equal(await sys.row(id), null, 'and there is no row')
  t.equal((await sys.status(id)).status, 404, 'the job does not exist anywhere')
})

t.test('the gateway starts degraded with Redis and the database down, and recovers without a restart', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  await redis.stop() // a port with nothing on it
  t.teardown(() => redis.stop())
  const dbProxy = new TcpProxy(3306)
  await dbProxy.start()
  t.teardown(() => dbProxy.stop())
  dbProxy.cut(true)
  const sys = await TestSystem.start(t, { name: 'degraded', workers: 0, redisUrl: redis.url, gateway: false })
  const started = Date.now()
  await sys.startGateway({ DATABASE_URL: sys.db.url.replace(':3306/', `:${dbProxy.port}/`) })
  t.ok(Date.now() - started < 60_000, `it starts without them (${Date.now() - started} ms)`)

  const health = await (await fetch(`${sys.baseUrl}/api/health`)).json()
  t.equal(health.status, 'degraded')
  t.equal(health.redis, 'unavailable')
  t.equal(health.mysql, 'unavailable')
  const failed = await sys.submit({ prompt: 'while everything is down' })
  t.ok(failed.status >= 500 && failed.ms < 15_000, `submit fails, bounded (${failed.status}, ${failed.ms.toFixed(0)} ms): ${failed.body.error}`)
  t.ok(['DATABASE_UNAVAILABLE', 'QUEUE_UNAVAILABLE'].includes(failed.body.code), `with the cause named (${failed.body.code})`)

  await redis.start()
  dbProxy.resume()
  let ok = await sys.submit({ prompt: 'recovered' })
  for (let i = 0; i < 100 && ok.status !== 200; i++) { await sleep(200); ok = await sys.submit({ prompt: 'recovered' }) }
  t.equal(ok.status, 200, 'submits succeed once both are back')
  const after = await (await fetch(`${sys.baseUrl}/api/health`)).json()
  t.equal(after.redis, 'healthy')
  t.equal(after.mysql, 'healthy')
  t.equal((await sys.status(ok.body.job_id)).body.source, 'redis')
  const migrations = (await readdir(new URL('../prisma/migrations/', import.meta.url), { withFileTypes: true })).filter(d => d.isDirectory()).length
  let applied = 0
  for (let i = 0; i < 50 && applied < migrations; i++) {
    const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL') as any
    applied = Number(rows[0].n)
    if (applied < migrations) await sleep(200)
  }
  t.equal(applied, migrations, `the migrations (${migrations}) ran once the database came back`)
})

t.test('the worker waits for Redis instead of exiting', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  await redis.stop()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, { name: 'workerwait', workers: 0, redisUrl: redis.url, gateway: false })
  sys.workerPorts.push(await (await import('./helpers/ports.ts')).freePort())
  const { ServiceProcess } = await import('./helpers/service-process.ts')
  const worker = new ServiceProcess('worker', { REDIS_URL: redis.url, QUEUE_NAME: sys.queueName, WORKER_GRPC_PORT: String(sys.workerPorts[0]), BUILTIN_STEP_MS: '5' })
  sys.workers.push(worker)
  await sleep(3000)
  t.equal(worker.child.exitCode, null, 'still running after 3 s without Redis')
  await redis.start()
  await sys.startGateway()
  const res = await sys.submit({ prompt: 'once redis is up' })
  t.equal(res.status, 200)
  const done = await sys.waitForStatus(res.body.job_id, s => s.status === 'finished', 120_000)
  t.equal(done.status, 'finished', 'and runs jobs once it is there')
})
