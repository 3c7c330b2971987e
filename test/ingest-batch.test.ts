// Batched ingestion loses nothing when it is interrupted in the middle of a batch: a gateway SIGKILLed
// while it drains a backlog, and Redis cut away from the gateway while it drains one. Each job ends
// finished in the database and in Redis alike, and its event stream holds every progress step once,
// in order.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { EVENTS_CHANNEL, eventsStreamKey, statusKey } from '@comfy-jobs/contracts'
import { TestSystem } from './helpers/system.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'
import { jobEvents } from './helpers/job-events.ts'

const STEPS = 200
const CONCURRENCY = 8
const JOBS = 16
// The backlog is built by a worker that no gateway streams: it must keep taking jobs and holding them
// for as long as the test needs, not give them back (see test/unstreamed-worker.test.ts for that).
const WORKER = {
  WORKER_CONCURRENCY: String(CONCURRENCY), BUILTIN_STEPS: String(STEPS), BUILTIN_STEP_MS: '0', UNSTREAMED_GRACE_MS: '600000', ACK_TIMEOUT_MS: '600000'
}

/**
 * Submits JOBS jobs, then kills the gateway so the worker runs CONCURRENCY of them to the end with
 * nobody ingesting: a backlog of CONCURRENCY × (STEPS + 2) events waits in the worker.
 */
async function buildBacklog (sys: TestSystem): Promise<string[]> {
  const ids: string[] = []
  await sys.startGateway({ WORKER_ADDRESSES: '127.0.0.1:1', WORKER_DISCOVERY: 'false' }) // a gateway that takes submits but ingests nothing
  for (let i = 0; i < JOBS; i++) ids.push((await sys.submit({ prompt: `backlog ${i}`, seed: i })).body.job_id)
  const worker = sys.workers[0]
  await worker.waitForLog(() => worker.logs.filter(l => l.msg === 'job ended; waiting for the gateway to ack').length >= CONCURRENCY, 120_000)
  await sys.gateway!.kill('SIGKILL')
  return ids
}

/**
 * Resolves once the gateway made `n` events durable, as its wake-ups tell: each carries its job's
 * newest stream seq (one wake-up may stand for a run of events).
 */
async function wakeUps (redisUrl: string): Promise<{ reached: (n: number) => Promise<void>, close: () => void }> {
  const sub = new Redis(redisUrl)
  const top = new Map<string, number>()
  let durable = 0
  const waiters: Array<{ n: number, resolve: () => void }> = []
  sub.on('message', (_channel: string, message: string) => {
    const [jobId, seq] = message.split(' ')
    const before = top.get(jobId) ?? 0
    if (Number(seq) > before) { durable += Number(seq) - before; top.set(jobId, Number(seq)) }
    for (const w of waiters.filter(w => w.n <= durable)) { waiters.splice(waiters.indexOf(w), 1); w.resolve() }
  })
  await sub.subscribe(EVENTS_CHANNEL)
  return {
    reached: n => durable >= n ? Promise.resolve() : new Promise(resolve => waiters.push({ n, resolve })),
    close: () => sub.disconnect()
  }
}

async function durableEvents (redisUrl: string, ids: string[]): Promise<number> {
  const redis = new Redis(redisUrl)
  try {
    let n = 0
    for (const id of ids) n += await redis.xlen(eventsStreamKey(id))
    return n
  } finally {
    redis.disconnect()
  }
}

async function waitAllFinished (sys: TestSystem, ids: string[]): Promise<any[]> {
  const deadline = Date.now() + 90_000
  for (;;) {
    const [rows] = await sys.db.pool.query('SELECT id, status, progress, step, total_steps FROM jobs') as any
    if (rows.length === ids.length && rows.every((r: any) => r.status === 'finished')) return rows
    if (Date.now() > deadline) return rows
    await sleep(250)
  }
}

async function assertComplete (t: Test, sys: TestSystem, ids: string[]): Promise<void> {
  const rows = await waitAllFinished(sys, ids)
  t.same(rows.filter(r => r.status !== 'finished').map(r => `${r.id} ${r.status}`), [], 'every job ended finished in the database')
  t.ok(rows.every(r => r.progress === 100), 'with progress 100')
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())
  const disagree: string[] = []
  const broken: string[] = []
  for (const row of rows) {
    const hash = await redis.hgetall(statusKey(row.id))
    if (hash.status !== row.status || Number(hash.progress) !== row.progress || Number(hash.step) !== row.step) {
      disagree.push(`${row.id}: db ${row.status}/${row.progress}/${row.step}, redis ${hash.status}/${hash.progress}/${hash.step}`)
    }
    const events = await jobEvents(sys.redisUrl, row.id)
    const steps = events.filter(e => e.type === 'progress').map(e => Number(e.step))
    const seqs = events.map(e => Number(e.seq))
    const problems = [
      events[0]?.type !== 'processing' && `starts with ${events[0]?.type}`,
      events.at(-1)?.type !== 'finished' && `ends with ${events.at(-1)?.type}`,
      events.filter(e => e.type === 'processing' || e.type === 'finished').length !== 2 && 'a transition appears twice',
      steps.join() !== Array.from({ length: STEPS }, (_x, i) => i + 1).join() && `progress steps ${steps.length}: ${compress(steps)}`,
      seqs.some((s, i) => s !== i + 1) && 'stream seqs have a gap'
    ].filter(Boolean)
    if (problems.length > 0) broken.push(`${row.id}: ${problems.join('; ')}`)
  }
  t.same(disagree, [], 'the status hash agrees with the database row for every job')
  t.same(broken, [], `every job's event stream holds processing, steps 1..${STEPS} once each in order, finished`)
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.active + counts.prioritized, 0, 'nothing is left in the queue')
}

/** 1,2,3,7,8 → "1-3,7-8": a readable diff of a broken step list. */
function compress (steps: number[]): string {
  const parts: string[] = []
  for (let i = 0; i < steps.length;) {
    let j = i
    while (j + 1 < steps.length && steps[j + 1] === steps[j] + 1) j++
    parts.push(i === j ? `${steps[i]}` : `${steps[i]}-${steps[j]}`)
    i = j + 1
  }
  return parts.join(',')
}

t.test('the gateway is SIGKILLed in the middle of a batch while it drains a backlog', async t => {
  const sys = await TestSystem.start(t, { name: 'ingestkill', workers: 1, workerEnv: WORKER, gateway: false })
  const ids = await buildBacklog(sys)
  const wake = await wakeUps(sys.redisUrl)
  t.teardown(wake.close)

  const draining = await sys.startGateway()
  await wake.reached(300)
  await draining.kill('SIGKILL')
  const durable = await durableEvents(sys.redisUrl, ids)
  const detached = await sys.workers[0].waitForLog(l => l.msg === 'event subscriber detached')
  t.ok(durable > detached.acked_seq, `killed mid-batch: ${durable} events durable, ${detached.acked_seq} acked; the rest are replayed to the next gateway`)

  await sys.startGateway()
  await assertComplete(t, sys, ids)
})

t.test('Redis is cut away from the gateway in the middle of a batch', async t => {
  const proxy = new TcpProxy(Number(new URL(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379))
  await proxy.start()
  t.teardown(() => proxy.stop())
  const sys = await TestSystem.start(t, { name: 'ingestcut', workers: 1, workerEnv: WORKER, gateway: false })
  const ids = await buildBacklog(sys)
  const wake = await wakeUps(sys.redisUrl)
  t.teardown(wake.close)

  const gateway = await sys.startGateway({ REDIS_URL: `redis://127.0.0.1:${proxy.port}` })
  await wake.reached(300)
  proxy.cut(true)
  await sleep(1500)
  proxy.resume()
  t.ok(gateway.logs.some(l => l.msg === 'event not yet durable; retrying'), 'the gateway saw writes fail and retried')

  await assertComplete(t, sys, ids)
  t.equal(gateway.child.exitCode, null, 'the same gateway did it, without a restart')
})
