import { Redis } from 'ioredis'
import { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'
import { percentile } from '../load.ts'
import { cpuMs } from '../process-cpu.ts'
import { waitUntilEnded } from './end-to-end.ts'
import { WakeUps } from './wake-ups.ts'

/** The gateway's default (config.ts): progress reaches the database at most once a second per job. */
const PROGRESS_DB_INTERVAL_MS = '1000'

export interface DrainResult {
  workers: number
  /** events waiting in the workers when the gateway started */
  events: number
  seconds: number
  perSecond: number
  /** CPU per event over the drain (first to last wake-up), ms: less noisy than the rate on a shared machine */
  gatewayCpuMsPerEvent: number
  workersCpuMsPerEvent: number
}

export interface PacedResult {
  workers: number
  concurrency: number
  stepMs: number
  events: number
  /** the rate reached, events/s (first to last wake-up) */
  perSecond: number
  /** progress events the lag is taken over: those emitted after every submit was answered */
  lagEvents: number
  lagP50: number
  lagP99: number
  lagMax: number
}

export interface IngestResult {
  drains: DrainResult[]
  paced: PacedResult
}

async function until (what: string, timeoutMs: number, pred: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function submitAll (sys: TestSystem, n: number, label: string): Promise<string[]> {
  const http = new HttpClient(sys.baseUrl, 8)
  try {
    return await Promise.all(Array.from({ length: n }, (_x, i) => http.post('/api/generate', { prompt: `${label} ${i}`, seed: i }).then(b => b.job_id as string)))
  } finally {
    await http.close()
  }
}

/**
 * Ingestion as a backlog drain. `workers` workers each run `concurrency` jobs of `steps` 0 ms steps
 * to the end while no gateway ingests (a gateway that only takes the submits lists no worker), so
 * each holds concurrency × (steps + 2) unacked events. Then a gateway that ingests them starts; the
 * time is from the first to the last wake-up it publishes (each comes after the event's hash and
 * stream writes; transitions are in the database before that, progress at the default rate bound).
 */
export async function benchDrain (workers: number, concurrency: number, steps: number): Promise<DrainResult> {
  const cleanups: Array<() => unknown> = []
  try {
    const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
      name: `bench-drain${workers}`,
      workers,
      gateway: false,
      logLevel: 'warn',
      // info for the workers: the backlog is complete when each says its jobs wait for the ack
      workerEnv: { LOG_LEVEL: 'info', WORKER_CONCURRENCY: String(concurrency), BUILTIN_STEPS: String(steps), BUILTIN_STEP_MS: '0' },
      gatewayEnv: { PROGRESS_DB_INTERVAL_MS }
    })
    await sys.startGateway({ WORKER_ADDRESSES: '127.0.0.1:1' })
    const ids = await submitAll(sys, workers * concurrency, 'drain')
    const waiting = () => sys.workers.reduce((n, w) => n + w.logs.filter(l => l.msg === 'job ended; waiting for the gateway to ack').length, 0)
    await until('backlog built', 120_000, () => waiting() >= ids.length)
    await sys.gateway!.kill('SIGKILL')

    const events = ids.length * (steps + 2)
    const cpu = () => ({ gateway: cpuMs(sys.gateway!.child.pid!), workers: sys.workers.reduce((n, w) => n + cpuMs(w.child.pid!), 0) })
    let before = { gateway: 0, workers: 0 }
    const wake = await WakeUps.listen(sys.redisUrl, () => { before = cpu() })
    cleanups.push(() => wake.close())
    await sys.startGateway()
    await until(`${events} events made durable`, 120_000, () => wake.durable >= events)
    const after = cpu()
    const seconds = (wake.last - wake.first) / 1000
    await waitUntilEnded(sys, ids, 30_000)
    const n = wake.durable
    return {
      workers,
      events: n,
      seconds,
      perSecond: (n - 1) / seconds,
      gatewayCpuMsPerEvent: (after.gateway - before.gateway) / n,
      workersCpuMsPerEvent: (after.workers - before.workers) / n
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn()
  }
}

/**
 * Lag at a paced rate: `workers` workers, each running `concurrency` jobs at a time of steps of
 * `stepMs`, for `jobs` jobs. Lag is from the worker emitting a progress event (its `at`) to the
 * gateway's wake-up for it arriving here, i.e. after the status hash (what GET /api/status reads)
 * and the stream are written, over the events emitted after every submit was answered. Images are
 * 1024² whatever the steps (the API has no smaller size), so many steps per job keep the workers'
 * rendering from eating the two cores the rate is measured on.
 */
export async function benchPaced (opts: { workers: number, concurrency: number, stepMs: number, steps: number, jobs: number }): Promise<PacedResult> {
  const cleanups: Array<() => unknown> = []
  try {
    const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
      name: 'bench-paced',
      workers: opts.workers,
      logLevel: 'warn',
      workerEnv: { WORKER_CONCURRENCY: String(opts.concurrency), BUILTIN_STEPS: String(opts.steps), BUILTIN_STEP_MS: String(opts.stepMs) },
      gatewayEnv: { PROGRESS_DB_INTERVAL_MS }
    })
    await sys.waitForWorkersConnected()
    const wake = await WakeUps.listen(sys.redisUrl)
    cleanups.push(() => wake.close())
    const ids = await submitAll(sys, opts.jobs, 'paced')
    // the submit burst takes the gateway's CPU for a moment; its cost is the submit phase's figure
    const submitted = Date.now()
    await waitUntilEnded(sys, ids, 300_000)
    await new Promise(resolve => setTimeout(resolve, 200)) // the last wake-ups come after the row is final
    const redis = new Redis(sys.redisUrl)
    cleanups.push(() => redis.disconnect())
    const lags = await wake.progressLags(redis, ids, submitted)
    const seconds = (wake.last - wake.first) / 1000
    return {
      workers: opts.workers,
      concurrency: opts.concurrency,
      stepMs: opts.stepMs,
      events: wake.durable,
      perSecond: wake.durable / seconds,
      lagEvents: lags.length,
      lagP50: percentile(lags, 0.5),
      lagP99: percentile(lags, 0.99),
      lagMax: lags[lags.length - 1]
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn()
  }
}
