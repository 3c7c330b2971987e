// The benchmark: the real system (gateway + 1 worker, built-in engine) against floors measured in
// the same run. Writes bench/results/latest.json and latest.md.
//   npm run bench    (env: BENCH_ROUNDS=3, BENCH_ROUND_MS=2500, BENCH_E2E_JOBS=2000, BENCH_E2E_WORKERS=4,
//                     BENCH_DRAIN_STEPS=1000, BENCH_ONLY=submit,status,events,e2e,
//                     BENCH_RUNTIME=compiled|tsx: the gateway and worker as `npm start` runs them
//                     (compiled, built first; the default) or from the sources through tsx)
import { cpus, loadavg } from 'node:os'
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { statusKey, eventsStreamKey } from '@comfy-jobs/contracts'
import { TestSystem } from '../test/helpers/system.ts'
import { benchWebhooks } from './scenarios/webhooks.ts'
import { benchSubmit, benchTransactionOverhead } from './scenarios/submit.ts'
import { benchStatus } from './scenarios/status.ts'
import { benchEvents } from './scenarios/events.ts'
import { benchDrain, benchPaced } from './scenarios/ingest.ts'
import { benchEndToEnd } from './scenarios/end-to-end.ts'
import { markdown, type BenchResults } from './report.ts'
import { HttpClient } from './http-client.ts'

function positiveInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return n
}

const plan = { rounds: positiveInt('BENCH_ROUNDS', 3), roundMs: positiveInt('BENCH_ROUND_MS', 2500) }
const e2eJobs = positiveInt('BENCH_E2E_JOBS', 2000)
const e2eWorkers = positiveInt('BENCH_E2E_WORKERS', 4)
/** events phase: steps per job of the backlog drains (8 jobs per worker, so 8 × (steps + 2) events each) */
const drainSteps = positiveInt('BENCH_DRAIN_STEPS', 1000)
const PHASES = ['submit', 'status', 'events', 'e2e', 'webhooks'] as const
const webhookJobs = positiveInt('BENCH_WEBHOOK_JOBS', 300)
type Phase = typeof PHASES[number]
/** BENCH_ONLY=status,events runs only those phases (the table then leaves the others out). */
const only = new Set<Phase>((process.env.BENCH_ONLY ?? PHASES.join(',')).split(',').map(p => {
  if (!(PHASES as readonly string[]).includes(p)) throw new Error(`BENCH_ONLY: unknown phase ${JSON.stringify(p)} (phases: ${PHASES.join(', ')})`)
  return p as Phase
}))
const LOG_LEVEL = 'warn'
const RUNTIME = process.env.BENCH_RUNTIME ?? 'compiled'
if (RUNTIME !== 'compiled' && RUNTIME !== 'tsx') throw new Error(`BENCH_RUNTIME: expected compiled or tsx, got ${JSON.stringify(RUNTIME)}`)
const SUBMIT_CONCURRENCIES = [1, 16, 64, 256]
const DB_POOL_SIZE = 16
const RESULTS = fileURLToPath(new URL('results/', import.meta.url))

const say = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`)

/** Drops every job of the submit/status phases (rows first, so the sweeper never requeues one), then the queue. */
async function clearJobs (sys: TestSystem): Promise<void> {
  const [rows] = await sys.db.pool.query('SELECT id FROM jobs') as any
  await sys.db.pool.query('DELETE FROM outputs')
  await sys.db.pool.query('DELETE FROM jobs')
  const redis = new Redis(sys.redisUrl)
  const ids: string[] = rows.map((r: { id: string }) => r.id)
  for (let i = 0; i < ids.length; i += 1000) await redis.del(...ids.slice(i, i + 1000).flatMap(id => [statusKey(id), eventsStreamKey(id)]))
  const queue = new Queue(sys.queueName, { connection: redis })
  await queue.obliterate({ force: true })
  await queue.close()
  redis.disconnect()
}

/**
 * A fresh worker with `workerEnv`, then a fresh gateway: a gateway whose worker was down for long
 * has backed off its reconnects (grpc-js's own channel backoff), so it would not see the new one soon.
 */
async function restart (sys: TestSystem, workerEnv: Record<string, string> = {}): Promise<void> {
  await sys.gateway!.kill('SIGTERM')
  await sys.workers[0].kill('SIGKILL')
  await sys.startWorker(0, workerEnv)
  await sys.startGateway()
  await sys.waitForWorkersConnected()
}

/** Jobs for the status phase when the submit phase (which leaves its jobs behind) did not run. */
async function seedJobs (sys: TestSystem, n: number): Promise<void> {
  const http = new HttpClient(sys.baseUrl, 16)
  let next = 0
  try {
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < n) await http.post('/api/generate', { prompt: `seed ${next++}`, seed: 1 })
    }))
  } finally {
    await http.close()
  }
}

if (RUNTIME === 'compiled') {
  // @ts-expect-error: a plain .mjs script without types
  const { build } = await import('../scripts/build.mjs')
  build()
}

const cleanups: Array<() => unknown> = []
const loadAverageBefore = loadavg()[0]
say(`starting gateway + 1 worker (${RUNTIME}; LOG_LEVEL=${LOG_LEVEL} for both, so logging is not what is measured); ${plan.rounds} interleaved rounds of ${plan.roundMs} ms per scenario`)
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'bench',
  logLevel: LOG_LEVEL,
  compiled: RUNTIME === 'compiled',
  workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '0' },
  // no worker consumes during submit, so every accepted job stays queued: a fast run passes the
  // default MAX_QUEUE_DEPTH (10,000) and measures QUEUE_FULL answers instead of submits
  gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', DB_POOL_SIZE: String(DB_POOL_SIZE), PROGRESS_DB_INTERVAL_MS: '1000', MAX_QUEUE_DEPTH: '0' }
})
try {
  // nothing consumes the queue while submit and status are measured: the worker would take CPU from them
  await sys.workers[0].kill('SIGKILL')

  let submit: BenchResults['submit']
  let transactionOverhead: BenchResults['transactionOverhead']
  if (only.has('submit')) {
    say(`submit at ${SUBMIT_CONCURRENCIES.join(', ')} connections vs the mysql2 + BullMQ floor`)
    submit = await benchSubmit(sys, plan, SUBMIT_CONCURRENCIES, DB_POOL_SIZE)
    say('seed metric: transactional vs plain submit steps')
    transactionOverhead = await benchTransactionOverhead(sys, 200)
  }

  let status: BenchResults['status']
  if (only.has('status')) {
    if (!only.has('submit')) await seedJobs(sys, 2000)
    say('status: Redis path, database path, HTTP floor, bare HGETALL, bare SELECT')
    const [rows] = await sys.db.pool.query('SELECT id FROM jobs ORDER BY created_at DESC LIMIT 2000') as any
    status = await benchStatus(sys, plan, 16, rows.map((r: { id: string }) => r.id))
  }

  let events: BenchResults['events']
  const ingest: Partial<NonNullable<BenchResults['ingest']>> & { drains: NonNullable<BenchResults['ingest']>['drains'] } = { drains: [] }
  if (only.has('events')) {
    await clearJobs(sys)
    say('event pipeline: 1 worker, 40 jobs × 50 steps of 0 ms')
    await restart(sys, { BUILTIN_STEPS: '50' })
    events = await benchEvents(sys, 40, 50)
    for (const workers of [1, 4]) {
      say(`ingestion: backlog of ${workers} × 8 jobs × ${drainSteps} steps, drained by a fresh gateway`)
      ingest.drains.push(await benchDrain(workers, 8, drainSteps))
    }
    say('ingestion lag: 4 workers × 1 job at a time, 1000 steps of 3 ms (about 1,000 events/s)')
    ingest.paced = await benchPaced({ workers: 4, concurrency: 1, stepMs: 3, steps: 1000, jobs: 16 })
  }

  let endToEnd: BenchResults['endToEnd']
  if (only.has('e2e')) {
    await clearJobs(sys)
    await sys.gateway!.kill('SIGTERM') // the phase runs a system of its own; this one would only take CPU
    say(`end to end: ${e2eJobs} jobs, ${e2eWorkers} workers`)
    endToEnd = await benchEndToEnd(e2eJobs, e2eWorkers)
  }

  let webhooks: BenchResults['webhooks']
  if (only.has('webhooks')) {
    if (sys.gateway) await sys.gateway.kill('SIGTERM')
    say(`webhooks: ${webhookJobs} jobs with a completed webhook, terminal event → webhook received vs → SSE watcher`)
    webhooks = await benchWebhooks(webhookJobs)
  }

  const results: BenchResults = {
    at: new Date().toISOString(),
    command: `${process.env.BENCH_RUNTIME ? `BENCH_RUNTIME=${RUNTIME} ` : ''}${process.env.BENCH_ONLY ? `BENCH_ONLY=${process.env.BENCH_ONLY} ` : ''}npm run bench`,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverageBefore, loadAverageAfter: loadavg()[0] },
    plan: { ...plan, runtime: RUNTIME, logLevel: LOG_LEVEL, floorPoolSize: DB_POOL_SIZE, gatewayDbPoolSize: DB_POOL_SIZE },
    submit,
    transactionOverhead,
    status,
    events,
    ingest: ingest.paced ? { drains: ingest.drains, paced: ingest.paced } : undefined,
    endToEnd,
    webhooks
  }
  const md = markdown(results)
  await mkdir(RESULTS, { recursive: true })
  await writeFile(`${RESULTS}latest.json`, JSON.stringify(results, null, 2))
  await writeFile(`${RESULTS}latest.md`, md)
  console.log('\n' + md)
  say('wrote bench/results/latest.json and bench/results/latest.md')
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
