// The sweeper keeps the database and the queue telling the same story (I1, I2).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

const FAST_SWEEP = { SWEEP_INTERVAL_MS: '300', SWEEP_GRACE_MS: '1000' }

/** A UUIDv7 whose embedded time is `msAgo` in the past. */
function oldUuidV7 (msAgo: number): string {
  const hex = (Date.now() - msAgo).toString(16).padStart(12, '0') + '7' + 'abc' + '8' + Math.random().toString(16).slice(2, 17).padEnd(15, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

t.test('Redis restarted empty while 50 jobs are queued: all 50 still finish', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, { name: 'redisloss', workers: 1, redisUrl: redis.url, gatewayEnv: FAST_SWEEP, workerEnv: { BUILTIN_STEP_MS: '5' } })
  await sys.workers[0].kill('SIGTERM') // nothing consumes while we queue

  const ids: string[] = []
  for (let i = 0; i < 50; i++) {
    const res = await sys.submit({ prompt: `queued ${i}` })
    t.equal(res.status, 200)
    ids.push(res.body.job_id)
  }
  await redis.stop()
  const during = await Promise.all(ids.slice(0, 5).map(id => sys.status(id)))
  t.same(during.map(s => s.status), [200, 200, 200, 200, 200], 'status reads keep answering while Redis is down')
  t.same([...new Set(during.map(s => s.body.source))], ['database'], 'from the database')
  t.same([...new Set(during.map(s => s.body.status))], ['queued'])

  await redis.start() // empty: the queue and the status keys are gone
  await sys.startWorker(0)
  await until('all 50 finished', async () => {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'finished'") as any
    return Number(rows[0].n) === 50
  }, 60_000)
  const [rows] = await sys.db.pool.query('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status') as any
  t.same(rows.map((r: any) => [r.status, Number(r.n)]), [['finished', 50]], 'every job finished, none lost')
  t.ok(sys.gateway!.logs.some(l => l.msg === 'job lost by the queue; enqueued again'), 'the sweeper re-enqueued them')
  const [outputs] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM outputs') as any
  t.equal(Number(outputs[0].n), 50, 'one output each')
})

t.test('queue entries without a row, and jobs lost too often', async t => {
  const sys = await TestSystem.start(t, { name: 'sweepdrop', workers: 0, gatewayEnv: { ...FAST_SWEEP, MAX_ATTEMPTS: '3' } })
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })

  t.test('a phantom queue entry (commit and compensation both failed) is dropped before it runs', async t => {
    const phantom = oldUuidV7(60_000)
    await queue.add('generate', { job_id: phantom, workflow: 'text_to_image', model: 'turbo_fp8', prompt: 'phantom', params: { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 } }, { jobId: phantom })
    const fresh = await sys.submit({ prompt: 'a real job next to it' })
    await until('the phantom is gone', async () => (await queue.getJob(phantom)) === undefined)
    t.pass('the phantom entry was removed')
    t.ok(await queue.getJob(fresh.body.job_id), 'the committed job is still queued')
    t.ok(await sys.gateway!.waitForLog(l => l.job_id === phantom && /without a database row/.test(l.msg)), 'and the sweeper says why')
  })

  t.test('a live job lost by the queue MAX_ATTEMPTS times is failed with a reason', async t => {
    const id = oldUuidV7(120_000)
    await sys.db.pool.query(
      "INSERT INTO jobs (id, status, workflow, model, prompt, params, attempts, created_at, updated_at) VALUES (?, 'processing', 'text_to_image', 'turbo_fp8', 'lost thrice', ?, 3, NOW(3) - INTERVAL 2 MINUTE, NOW(3) - INTERVAL 2 MINUTE)",
      [id, JSON.stringify({ aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 })])
    await until('the job failed', async () => (await sys.row(id)).status === 'failed')
    const row = await sys.row(id)
    t.match(row.error, /MAX_ATTEMPTS=3/, `the reason is recorded: ${row.error}`)
    t.ok(row.finished_at)
    const status = await sys.status(id)
    t.equal(status.body.status, 'failed')
    t.match(status.body.error, /attempts/)
  })

  t.test('only one gateway sweeps at a time', async t => {
    const leaseKey = `sweeper:lease:${sys.queueName}`
    const holder = await redis.get(leaseKey)
    t.ok(holder, 'a gateway holds the lease')
    t.ok((await redis.pttl(leaseKey)) > 0, 'with an expiry, so a dead holder loses it')
  })
})

t.test('a worker that starts a job without a row is told to cancel it (I1)', async t => {
  const sys = await TestSystem.start(t, { name: 'phantomrun', workers: 1, workerEnv: { BUILTIN_STEPS: '10', BUILTIN_STEP_MS: '100' } })
  await sys.waitForWorkersConnected()
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })
  const phantom = oldUuidV7(0) // fresh: the sweeper's grace does not cover it, the worker takes it first
  await queue.add('generate', { job_id: phantom, workflow: 'text_to_image', model: 'turbo_fp8', prompt: 'phantom', params: { aspect_ratio: '1:1', width: 256, height: 256, seed: 1, batch_size: 1 } }, { jobId: phantom })
  const cancelled = await sys.workers[0].waitForLog(l => l.job_id === phantom && l.msg === 'job ended; waiting for the gateway to ack')
  t.equal(cancelled.kind, 'CANCELLED', 'the worker stopped it instead of finishing it')
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === phantom && /must not run/.test(l.msg) && /no database row/.test(l.reason)), 'because it has no database row')
  await until('the queue entry completes', async () => (await queue.getJobState(phantom)) === 'completed')
  t.equal(await sys.row(phantom), null, 'no row appeared')
  t.equal(await redis.exists(`job:status:${phantom}`), 0, 'no status key appeared')
  t.equal((await sys.status(phantom)).status, 404)
})
