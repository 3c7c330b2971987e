// `attempts` counts every run, I4's re-runs after a worker died included (the limit across re-enqueues
// is test/max-attempts.test.ts).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Queue, Worker } from 'bullmq'
import { Redis } from 'ioredis'
import { v7 as uuidv7 } from 'uuid'
import { applyMigrations, createPrismaClient } from '@comfy-jobs/db'
import type { JobEvent } from '@comfy-jobs/rpc'
import { EventIngestor } from '../services/gateway/src/ingest/event-ingestor.ts'
import { EventWriter } from '../services/gateway/src/ingest/event-writer.ts'
import { OutputStore } from '../services/gateway/src/ingest/output-store.ts'
import { JobStore } from '../services/gateway/src/jobs/job-store.ts'
import { JobEventLog } from '../services/gateway/src/jobs/job-event-log.ts'
import { GatewayMetrics } from '../services/gateway/src/metrics/gateway-metrics.ts'
import { createTestDatabase } from './helpers/database.ts'
import { SHARED_REDIS_URL, TestSystem } from './helpers/system.ts'
import type { ServiceProcess } from './helpers/service-process.ts'

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

/** Runs per job, from the 'job started' lines of every worker process that ever ran. */
function runsPerJob (processes: ServiceProcess[]): Map<string, number> {
  const runs = new Map<string, number>()
  for (const p of processes) for (const l of p.logs) if (l.msg === 'job started') runs.set(l.job_id, (runs.get(l.job_id) ?? 0) + 1)
  return runs
}

t.test('worker kills mid-job: attempts equals the runs of every job', async t => {
  const sys = await TestSystem.start(t, {
    name: 'attempts',
    workers: 2,
    workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '50', LOCK_DURATION_MS: '2000' },
    gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' }
  })
  await sys.waitForWorkersConnected()
  const everyWorker: ServiceProcess[] = [...sys.workers]
  const ids: string[] = []
  const submit = async (prompt: string) => {
    const res = await sys.submit({ prompt, seed: ids.length })
    t.equal(res.status, 200)
    ids.push(res.body.job_id)
    return res.body.job_id as string
  }
  // Each round: jobs for both workers, then the victim is killed in the middle of one of them (after
  // its start, before its end: never while it takes its next job) and started again.
  const killed: string[] = []
  for (let round = 0; round < 6; round++) {
    const victim = sys.workers[round % 2]
    const mine = new Set(await Promise.all([0, 1, 2, 3].map(j => submit(`round ${round}.${j}`))))
    const started = await victim.waitForLog(l => l.msg === 'job started' && mine.has(l.job_id), 120_000)
    await sleep(60)
    await victim.kill('SIGKILL')
    killed.push(started.job_id)
    everyWorker.push(await sys.startWorker(round % 2))
  }
  for (let j = 0; j < 4; j++) await submit(`after the kills ${j}`)

  await until('every job finished', async () => {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE status = 'finished'") as any
    return Number(rows[0].n) === ids.length
  })
  const runs = runsPerJob(everyWorker)
  const [rows] = await sys.db.pool.query('SELECT id, attempts FROM jobs') as any
  const attempts = new Map<string, number>(rows.map((r: any) => [r.id, r.attempts]))
  t.same(ids.filter(id => attempts.get(id) !== runs.get(id)).map(id => `${id}: attempts ${attempts.get(id)}, runs ${runs.get(id)}`), [], 'attempts = runs, for every job')
  t.ok(killed.every(id => (runs.get(id) ?? 0) >= 2), 'each interrupted job ran again, and counted it')

  // the count lives in the queue entry (BullMQ's job hash), beside BullMQ's own count of hand-outs
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())
  const counted = await Promise.all(ids.map(async id => Number(await redis.hget(`bull:${sys.queueName}:${id}`, 'runs'))))
  t.same(ids.filter((id, i) => counted[i] !== attempts.get(id)), [], 'and the queue entry\'s own count of runs agrees')
})

t.test('a hand-out whose worker died before the run began is not a run', async t => {
  const sys = await TestSystem.start(t, {
    name: 'attempts_handout',
    workers: 1,
    workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '30', LOCK_DURATION_MS: '2000' },
    gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' }
  })
  await sys.waitForWorkersConnected()
  await sys.workers[0].kill('SIGKILL')
  const everyWorker: ServiceProcess[] = [sys.workers[0]]
  const res = await sys.submit({ prompt: 'taken, then abandoned', seed: 1 })
  t.equal(res.status, 200)
  const id = res.body.job_id as string

  // A worker takes the job from the queue and dies before it begins the run: the queue's hand-out,
  // its lock, then nothing (no STARTED, no lock renewal), as a kill -9 at that moment leaves it.
  const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: null })
  t.teardown(() => redis.disconnect())
  const dying = new Redis(sys.redisUrl, { maxRetriesPerRequest: null })
  const taker = new Worker(sys.queueName, null, { connection: dying, lockDuration: 1000, autorun: false })
  const handedOut = await taker.getNextJob('a-worker-that-dies')
  t.equal(handedOut?.id, id, 'the dying worker was handed the job')
  await taker.disconnect()
  dying.disconnect()

  // a worker starts, finds the job stalled (its lock expired), takes it again and runs it
  everyWorker.push(await sys.startWorker(0))
  const row = await until('the job finished', async () => (await sys.row(id))?.status === 'finished', 120_000).then(() => sys.row(id))
  const runs = everyWorker.flatMap(w => w.logs).filter(l => l.msg === 'job started' && l.job_id === id)
  t.equal(runs.length, 1, 'it ran once')
  t.equal(runs[0].attempt, 1, 'as run 1')
  t.equal(row.attempts, 1, 'attempts: 1, the run; not the two hand-outs')
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(() => queue.close())
  t.equal((await queue.getJob(id))?.attemptsStarted, 2, 'the queue did hand it out twice')
})

/** A logger that drops everything (pino is the services' dependency, not the tests'). */
const quiet: Record<string, unknown> = { level: 'silent' }
for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) quiet[level] = () => {}
quiet.child = () => quiet

t.test('a replayed STARTED of an older run, after a newer run was counted, adds nothing', async t => {
  // the gateway's ingest on its real stores: a test database, Redis, an output folder
  const db = await createTestDatabase('attempts_replay')
  t.teardown(() => db.drop())
  await applyMigrations(db.pool)
  const prisma = createPrismaClient(db.loc, { poolSize: 2 })
  t.teardown(() => prisma.$disconnect())
  const redis = new Redis(SHARED_REDIS_URL)
  t.teardown(() => redis.disconnect())
  const outputDir = await mkdtemp(join(tmpdir(), 'cj-attempts-replay-'))
  t.teardown(() => rm(outputDir, { recursive: true, force: true }))
  const outputs = new OutputStore(outputDir)
  await outputs.init()
  const store = new JobStore(prisma)
  const ingestor = new EventIngestor({
    store,
    writer: new EventWriter(redis, 600),
    history: new JobEventLog(redis, 600),
    outputs,
    logger: quiet as any,
    metrics: new GatewayMetrics(),
    progressDbIntervalMs: 0
  })
  const cancels: string[] = []
  const source = { fetchOutput: async function * () {}, cancel: async (jobId: string) => { cancels.push(jobId); return 'unknown' } }

  const id = uuidv7()
  await db.pool.query(
    "INSERT INTO jobs (id, status, workflow, model, prompt, params, attempts, created_at, updated_at) VALUES (?, 'queued', 'text_to_image', 'turbo_fp8', 'two workers ran it', ?, 0, NOW(3), NOW(3))",
    [id, JSON.stringify({ aspect_ratio: '1:1', width: 256, height: 256, seed: 7, batch_size: 1 })])
  const started = (worker: string, epoch: string, seq: number, attempt: number): JobEvent => ({
    worker_id: worker, epoch, seq, job_id: id, at_ms: Date.now(), kind: 'STARTED', progress: 0, step: 0, total_steps: 2,
    node: '', error: '', outputs: [], attempt, engine: 'builtin', metadata_json: ''
  })
  const attempts = async () => (await store.find(id))!.attempts

  // worker A began run 1; it lost its lock under load and worker B began run 2
  const runA = started('w-a', 'epoch-a', 7, 1)
  const runB = started('w-b', 'epoch-b', 3, 2)
  await ingestor.applyTransition(runA, source)
  await ingestor.applyTransition(runB, source)
  t.equal(await attempts(), 2, 'two runs began: attempts 2')
  // a gateway died before acking A's STARTED; the next gateway gets it again, after B's
  await ingestor.applyTransition(runA, source)
  t.equal(await attempts(), 2, 'the older run\'s replay is not a third run')
  await ingestor.applyTransition(runB, source)
  t.equal(await attempts(), 2, 'nor is the newer one\'s')
  t.equal((await store.find(id))!.status, 'processing', 'the job is running')

  // a refusal (MAX_ATTEMPTS) reports the runs that began: one whose STARTED never reached a
  // gateway (its worker died just after it began) is counted by it
  const refused: JobEvent = { ...started('w-c', 'epoch-c', 1, 3), kind: 'FAILED', error: 'not run: the job already ran 3 times, and MAX_ATTEMPTS is 3' }
  await ingestor.applyTransition(refused, source)
  const row = (await store.find(id))!
  t.equal(row.status, 'failed', 'the refusal failed the job')
  t.equal(row.attempts, 3, 'attempts: the three runs that began')
  t.same(cancels, [], 'no run was taken for one that must not run')
})
