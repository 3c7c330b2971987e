import { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'

export interface EndToEndResult {
  jobs: number
  workers: number
  finished: number
  seconds: number
  perSecond: number
  /** max(started_at − created_at) over the jobs, ms */
  slowestQueueWaitMs: number
}

/** Resolves when every job has a terminal row; throws after timeoutMs naming how many are still live. */
export async function waitUntilEnded (sys: TestSystem, ids: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE id IN (?) AND status IN ('queued', 'processing')", [ids]) as any
    const live = Number(rows[0].n)
    if (live === 0) return
    if (Date.now() > deadline) throw new Error(`${live} of ${ids.length} jobs still live after ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * N jobs submitted at 16 connections into a system of its own with `workers` workers (built-in engine,
 * 2 steps of 0 ms, one job at a time each, as a GPU would), then through to finished; times from the rows.
 */
export async function benchEndToEnd (jobs: number, workers: number): Promise<EndToEndResult> {
  const cleanups: Array<() => unknown> = []
  try {
    const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
      name: 'bench-e2e',
      workers,
      logLevel: 'warn',
      workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '0' },
      gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', PROGRESS_DB_INTERVAL_MS: '1000' }
    })
    await sys.waitForWorkersConnected()
    const http = new HttpClient(sys.baseUrl, 16)
    const ids: string[] = []
    try {
      let next = 0
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < jobs) {
          const i = next++
          ids.push((await http.post('/api/generate', { prompt: `e2e ${i}`, seed: i })).job_id)
        }
      }))
    } finally {
      await http.close()
    }
    await waitUntilEnded(sys, ids, Math.max(180_000, jobs * 200))
    const [rows] = await sys.db.pool.query(`
      SELECT SUM(status = 'finished') AS finished,
             TIMESTAMPDIFF(MICROSECOND, MIN(created_at), MAX(finished_at)) / 1e6 AS seconds,
             MAX(TIMESTAMPDIFF(MICROSECOND, created_at, started_at)) / 1e3 AS wait_ms
      FROM jobs WHERE id IN (?)`, [ids]) as any
    const seconds = Number(rows[0].seconds)
    return { jobs, workers, finished: Number(rows[0].finished), seconds, perSecond: Number(rows[0].finished) / seconds, slowestQueueWaitMs: Number(rows[0].wait_ms) }
  } finally {
    for (const fn of cleanups.reverse()) await fn()
  }
}
