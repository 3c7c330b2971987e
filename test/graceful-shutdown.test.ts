// SIGTERM: both services stop taking work, finish what is in flight, and exit cleanly.
import t from 'tap'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

t.test('worker SIGTERM mid-job finishes the job, gets it acked, exits 0', async t => {
  const sys = await TestSystem.start(t, { name: 'wterm', workers: 1, workerEnv: { BUILTIN_STEPS: '6', BUILTIN_STEP_MS: '150', SHUTDOWN_GRACE_MS: '10000' } })
  await sys.waitForWorkersConnected()
  const running = await sys.submit({ prompt: 'in flight at shutdown' })
  const waiting = await sys.submit({ prompt: 'queued at shutdown' })
  await sys.waitForStatus(running.body.job_id, s => s.status === 'processing' && s.progress > 0)
  const worker = sys.workers[0]
  worker.child.kill('SIGTERM')
  const code = await worker.exited
  t.equal(code, 0, 'the worker exits 0')
  const done = await sys.waitForStatus(running.body.job_id, s => s.status !== 'processing')
  t.equal(done.status, 'finished', 'the running job finished before the worker left')
  t.equal((await sys.row(running.body.job_id)).status, 'finished', 'and the database knows')
  t.equal((await sys.row(waiting.body.job_id)).status, 'queued', 'the queued job was not taken')
  await sys.startWorker(0)
  const later = await sys.waitForStatus(waiting.body.job_id, s => s.status === 'finished', 120_000)
  t.equal(later.status, 'finished', 'the next worker runs it')
})

t.test('gateway SIGTERM drains in-flight requests and exits 0', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, {
    name: 'gterm', workers: 0, redisUrl: redis.url, gatewayEnv: { QUEUE_PUSH_TIMEOUT_MS: '5000', REDIS_COMMAND_TIMEOUT_MS: '5000', DB_POOL_SIZE: '12' }
  })
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  // Writes stall for a second, so the submits are mid-transaction when the signal comes (each of the
  // 10 holds a database connection meanwhile: DB_POOL_SIZE above the test systems' default of 4).
  await client.call('CLIENT', 'PAUSE', '1000', 'WRITE')
  const inflight = Array.from({ length: 10 }, (_x, i) => sys.submit({ prompt: `drain ${i}` }))
  await sys.gateway!.waitForLog(l => l.step === 'db_insert' && sys.gateway!.logs.filter(x => x.step === 'db_insert').length >= 10)
  sys.gateway!.child.kill('SIGTERM')
  const results = await Promise.all(inflight)
  const code = await sys.gateway!.exited
  t.equal(code, 0, 'the gateway exits 0', { output: sys.gateway!.raw.slice(-8) })
  t.same(results.map(r => r.status), Array(10).fill(200), 'every request in flight at the signal completed with 200')
  for (const r of results) t.ok(await sys.row(r.body.job_id), `job ${r.body.job_id.slice(0, 8)} has its row`)
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  t.equal(Number(rows[0].n), 10, 'no row without a 200')
  t.equal(await client.llen(`bull:${sys.queueName}:wait`), 10, 'and each is queued')
  t.ok(sys.gateway!.logs.some(l => l.msg === 'gateway closing'), 'it logged the shutdown')
  const after = await fetch(`${sys.baseUrl}/api/health`).catch(() => null)
  t.equal(after, null, 'and no longer listens')
})
