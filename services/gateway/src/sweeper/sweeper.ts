import type { FastifyBaseLogger as Logger } from 'fastify'
import type { Job } from '@comfy-jobs/db'
import type { ApiGraph, JobInputs, JobParams, QueuedJob } from '@comfy-jobs/contracts'
import type { JobStore } from '../jobs/job-store.ts'
import type { JobQueue } from '../jobs/job-queue.ts'
import type { StatusCache } from '../jobs/status-cache.ts'
import type { JobEventLog } from '../jobs/job-event-log.ts'
import type { RedisLease } from './lease.ts'
import type { CommitOutcome } from '../jobs/commit-outcome.ts'
import { LiveJobWalk } from './live-job-walk.ts'

/** What the sweeper tells the metrics. */
export interface SweepMetrics {
  sweepChecked: (jobs: number) => void
}

export interface SweeperDeps {
  store: JobStore
  queue: JobQueue
  cache: StatusCache
  events: JobEventLog
  lease: RedisLease
  /** asks the database whether a row is there for good (see CommitOutcome) */
  outcome: CommitOutcome
  logger: Logger
  intervalMs: number
  /** a job younger than this (or updated more recently) is left alone */
  graceMs: number
  maxAttempts: number
  /** live jobs per keyset page, and at most this many pages per pass */
  pageSize: number
  pagesPerPass: number
  /** queue entries looked at per pass for a missing row */
  phantomBatch: number
  metrics?: SweepMetrics
}

export interface SweepReport {
  /** live jobs looked at in this pass */
  checked: number
  requeued: number
  failed: number
  dropped: number
}

/** ms since the epoch in a UUIDv7's first 48 bits; NaN for anything else */
function uuidv7Time (id: string): number {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-7/i.test(id)) return Number.NaN
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16)
}

/**
 * Keeps the database and the queue telling the same story (I1, I2): committed jobs the queue lost,
 * or whose entry completed while the row is not terminal, are enqueued again (or failed after
 * MAX_ATTEMPTS), jobs BullMQ gave up on are failed, queue entries
 * without a row are dropped. One gateway sweeps at a time (a Redis lease).
 */
export class Sweeper {
  readonly #d: SweeperDeps
  readonly #walk: LiveJobWalk
  #abort: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  #running: Promise<unknown> = Promise.resolve()

  constructor (deps: SweeperDeps) {
    this.#d = deps
    this.#walk = new LiveJobWalk(deps.store, deps.pageSize, deps.pagesPerPass)
  }

  /** How far behind the walk through live jobs is (see LiveJobWalk.behindSeconds); null on a gateway that never swept. */
  behindSeconds (): number | null {
    return this.#walk.behindSeconds()
  }

  /** How long the last complete walk through every live job took; null before one completed. */
  cycleSeconds (): number | null {
    return this.#walk.cycleSeconds
  }

  start (): void {
    if (this.#abort) return
    this.#abort = new AbortController()
    const tick = () => {
      this.#running = this.#tick().finally(() => {
        if (this.#abort && !this.#abort.signal.aborted) this.#timer = setTimeout(tick, this.#d.intervalMs)
      })
    }
    this.#timer = setTimeout(tick, this.#d.intervalMs)
  }

  async stop (): Promise<void> {
    if (!this.#abort) return
    this.#abort.abort()
    this.#abort = null
    if (this.#timer) clearTimeout(this.#timer)
    await this.#running
    await this.#d.lease.release().catch(() => {})
  }

  async #tick (): Promise<void> {
    try {
      if (!(await this.#d.lease.acquire())) return
      const report = await this.sweep()
      if (report.requeued + report.failed + report.dropped > 0) this.#d.logger.info(report, 'sweep repaired jobs')
      else this.#d.logger.debug(report, 'sweep pass')
    } catch (err) {
      this.#d.logger.warn({ err: (err as Error).message }, 'sweep skipped: a store is unavailable')
    }
  }

  async sweep (): Promise<SweepReport> {
    const report: SweepReport = { checked: 0, requeued: 0, failed: 0, dropped: 0 }
    await this.#repairLiveJobs(report)
    await this.#dropPhantoms(report)
    return report
  }

  async #repairLiveJobs (report: SweepReport): Promise<void> {
    const { metrics, graceMs } = this.#d
    for await (const page of this.#walk.pass()) {
      report.checked += page.length
      metrics?.sweepChecked(page.length)
      const before = Date.now() - graceMs
      const stale = page.filter(row => row.updatedAt.getTime() < before)
      if (stale.length > 0) await this.#repairPage(stale, report)
    }
  }

  /** Live jobs not updated within the grace: each is in the queue, or enqueued again, or failed. */
  async #repairPage (stale: Job[], report: SweepReport): Promise<void> {
    const { store, queue, cache, events, logger, maxAttempts } = this.#d
    const states = await queue.inspect(stale.map(j => j.id))
    for (const row of stale) {
      const state = states.get(row.id)!
      const log = logger.child({ job_id: row.id })
      if (state.kind === 'present') continue
      // A completed entry of a live row: its end was acked but never recorded (an ack from a client
      // that was not a gateway, before the worker link required its token). The job runs again.
      const lost = state.kind === 'missing' || state.kind === 'completed'
      let reason: string | null = null
      if (state.kind === 'failed') reason = `the queue gave up on the job: ${state.failedReason}`
      else if (lost && row.attempts >= maxAttempts) reason = `lost by the queue after ${row.attempts} attempts (MAX_ATTEMPTS=${maxAttempts})`
      if (reason) {
        if (await store.end(row.id, 'failed', new Date(), reason)) {
          await cache.apply(row.id, { job_id: row.id, status: 'failed', error: reason, node: '', finished_at: new Date().toISOString() }, 'force')
          await store.recordEnd(row.id, await events.append(row.id, { type: 'failed', status: 'failed', error: reason, at: new Date().toISOString() }))
          log.warn({ reason }, 'job failed by the sweeper')
          report.failed++
        }
        continue
      }
      if (!lost) continue
      const job: QueuedJob = {
        job_id: row.id,
        workflow: row.workflow,
        model: row.model,
        prompt: row.prompt,
        params: row.params as unknown as JobParams,
        prior_attempts: row.attempts,
        ...(row.inputs !== null ? { inputs: row.inputs as unknown as JobInputs } : {}),
        ...(row.prompts !== null ? { prompts: row.prompts as unknown as string[] } : {}),
        ...(row.graph !== null ? { graph: row.graph as unknown as ApiGraph } : {})
      }
      if (!(await store.requeue(row.id))) continue
      // only now, the row being live: a completed entry would make the add below a no-op
      if (state.kind === 'completed') await queue.discardCompleted(row.id)
      await queue.requeue(job)
      await cache.apply(row.id, {
        job_id: row.id, status: 'queued', progress: 0, step: 0, node: '', error: '', workflow: row.workflow, created_at: row.createdAt.toISOString()
      }, 'state')
      await events.append(row.id, { type: 'queued', status: 'queued', progress: 0, at: new Date().toISOString() })
      if (state.kind === 'completed') log.warn({ was: row.status, attempts: row.attempts }, 'queue entry completed while the job is not terminal; enqueued again')
      else log.warn({ was: row.status, attempts: row.attempts }, 'job lost by the queue; enqueued again')
      report.requeued++
    }
  }

  async #dropPhantoms (report: SweepReport): Promise<void> {
    const { store, queue, logger, graceMs, phantomBatch } = this.#d
    const ids = await queue.waitingIds(phantomBatch)
    const old = ids.filter(id => Date.now() - uuidv7Time(id) > graceMs)
    if (old.length === 0) return
    const known = await store.existing(old)
    for (const id of old) {
      if (known.has(id)) continue
      // No row to be seen, but a transaction may still hold an uncommitted one (a slow or doubtful
      // commit): only a locking read says the row is not there and will not be.
      if (await this.#d.outcome.once(id, null, 1000) !== 'absent') continue
      await queue.remove(id)
      logger.warn({ job_id: id }, 'queue entry without a database row dropped (commit failed, compensation failed)')
      report.dropped++
    }
  }
}
