// The sweeper keeps the database and the queue telling the same story (I1, I2).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

const FAST_SWEEP = { SWEEP_INTERVAL_MS: '300', SWEEP_GRACE_MS: '1000' }

/** A UUIDv7 whose embedded time is `msAgo` in the past. */
function oldUuidV7 (msAgo: number): string {
  const hex = (Date.now() - msAgo).toString(16).padStart(12, '0') + '7' + 'abc' + '8' + Math.random().toString(16).slice(2, 17).padEnd(15, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
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

t.test('a queue entry completed while its row is still live (an ack nobody recorded): the job runs again', async t => {
  const sys = await TestSystem.start(t, { name: 'sweepdone', workers: 1, gatewayEnv: FAST_SWEEP, workerEnv: { BUILTIN_STEP_MS: '5' } })
  await sys.workers[0].kill('SIGTERM') // nothing consumes while the entry is completed behind the gateway's back
  const id = (await sys.submit({ prompt: 'completed without a record' })).body.job_id
  await sys.db.pool.query("UPDATE jobs SET status = 'processing', attempts = 1 WHERE id = ?", [id])

  // what a worker does after an ack: it takes the entry and completes it
  const connection = new Redis(sys.redisUrl, { maxRetriesPerRequest: null })
  const intruder = new Worker(sys.queueName, null, { connection })
  t.teardown(async () => { await intruder.close(); connection.disconnect() })
  const taken = await intruder.getNextJob('intruder-token')
  t.equal(taken?.id, id, 'the entry was taken')
  await taken!.moveToCompleted('acked by nobody', 'intruder-token', false)
  t.equal(await taken!.getState(), 'completed', 'the queue says completed; the row says processing')

  const repaired = await sys.gateway!.waitForLog(l => l.msg === 'queue entry completed while the job is not terminal; enqueued again' && l.job_id === id, 60_000)
  t.equal(repaired.was, 'processing', 'the sweeper repairs it')
  await sys.startWorker(0)
  const ended = await sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 60_000)
  t.equal(ended.status, 'finished', 'and it runs again to its end')
  t.equal(ended.outputs.length, 1, 'with its output')
  t.equal((await sys.row(id)).attempts, 2, 'counted as a second run')
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
    // The lease lives 3 sweep intervals and is renewed each pass: on a loaded machine it can lapse
    // between two passes, so look until it is held, reading holder and expiry in one step.
    let seen: { holder: string | null, ttl: number } = { holder: null, ttl: -2 }
    await until('a gateway holds the sweeper lease', async () => {
      const [[, holder], [, ttl]] = await redis.multi().get(leaseKey).pttl(leaseKey).exec() as Array<[Error | null, any]>
      seen = { holder, ttl }
      return holder !== null
    })
    t.ok(seen.holder, 'a gateway holds the lease')
    t.ok(seen.ttl > 0, 'with an expiry, so a dead holder loses it')
  })
})

t.test('3,000 live jobs: a lost queue entry far down the list is found, at a bounded cost per pass', async t => {
  const PAGE = 200
  const PAGES = 2
  const sys = await TestSystem.start(t, {
    name: 'sweepdeep',
    workers: 0,
    gateway: false,
    gatewayEnv: { ...FAST_SWEEP, SWEEP_PAGE_SIZE: String(PAGE), SWEEP_PAGES_PER_PASS: String(PAGES), LOG_LEVEL: 'debug' }
  })
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })
  // the test holds the sweep lease from before the gateway starts while it lays out the jobs, so no pass sees them half made
  const lease = `sweeper:lease:${sys.queueName}`
  await redis.set(lease, 'the test', 'PX', 600_000)
  await sys.startGateway()

  const N = 3000
  const LOST = 2500
  const params = JSON.stringify({ aspect_ratio: '1:1', width: 256, height: 256, seed: 1, batch_size: 1 })
  const ids = Array.from({ length: N }, (_x, i) => oldUuidV7(600_000 - i))
  await queue.addBulk(ids.filter((_id, i) => i !== LOST).map(id => ({
    name: 'generate', data: { job_id: id, workflow: 'text_to_image', model: 'turbo_fp8', prompt: 'deep', params: JSON.parse(params) }, opts: { jobId: id }
  })))
  for (let i = 0; i < N; i += 500) {
    const chunk = ids.slice(i, i + 500)
    await sys.db.pool.query(
      'INSERT INTO jobs (id, status, workflow, model, prompt, params, created_at, updated_at) VALUES ' + chunk.map(() => "(?, 'queued', 'text_to_image', 'turbo_fp8', 'deep', ?, NOW(3) - INTERVAL 10 MINUTE, NOW(3) - INTERVAL 10 MINUTE)").join(', '),
      chunk.flatMap(id => [id, params]))
  }
  t.equal(await queue.getJob(ids[LOST]), undefined, `job ${LOST + 1} of ${N} has no queue entry`)
  const metrics = async () => {
    const text = await (await fetch(`${sys.baseUrl}/metrics`)).text()
    const value = (name: string) => {
      const line = text.split('\n').find(l => l.startsWith(`${name} `))
      return line ? Number(line.split(' ')[1]) : null // NaN: not known yet
    }
    return { checked: value('comfy_jobs_sweep_checked_total'), cycle: value('comfy_jobs_sweep_cycle_seconds'), behind: value('comfy_jobs_sweep_behind_seconds') }
  }
  const unswept = await metrics()
  t.ok(Number.isNaN(unswept.cycle) && Number.isNaN(unswept.behind), 'while another holds the lease, this gateway\'s sweep gauges say they do not know (NaN)')
  const mark = sys.gateway!.logs.length
  await redis.del(lease)

  const requeued = await sys.gateway!.waitForLog(l => l.msg === 'job lost by the queue; enqueued again' && l.job_id === ids[LOST], 120_000)
  t.ok(requeued, 'the sweeper found it and enqueued it again')
  t.ok(await queue.getJob(ids[LOST]), 'it is in the queue')
  const found = await sys.gateway!.waitForLog(l => l.msg === 'sweep repaired jobs' && l.requeued === 1)
  const passes = sys.gateway!.logs.slice(mark, sys.gateway!.logs.indexOf(found) + 1).filter(l => l.component === 'sweeper' && typeof l.checked === 'number')
  t.ok(passes.length >= Math.ceil((LOST + 1) / (PAGE * PAGES)), `it took ${passes.length} passes to get that far down`)
  t.same(passes.filter(p => p.checked > PAGE * PAGES).map(p => p.checked), [], `none looked at more than ${PAGES} pages of ${PAGE}`)
  t.same(sys.gateway!.logs.slice(mark).filter(l => l.msg === 'job lost by the queue; enqueued again').map(l => l.job_id), [ids[LOST]], 'and no other job was touched')

  await until('a full cycle through every live job', async () => !Number.isNaN((await metrics()).cycle), 120_000)
  const seen = await metrics()
  t.ok(seen.cycle! > 0, `/metrics has the duration of the last full cycle (${seen.cycle} s)`)
  t.ok(seen.checked! >= N, `which looked at every live job (${seen.checked} checked)`)
  t.ok(seen.behind !== null && seen.behind >= seen.cycle!, `and how far behind the sweep is (${seen.behind} s)`)
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
