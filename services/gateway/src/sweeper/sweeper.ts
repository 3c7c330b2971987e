import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobParams, QueuedJob } from '@comfy-jobs/contracts'
import type { JobStore } from '../jobs/job-store.ts'
import type { JobQueue } from '../jobs/job-queue.ts'
import type { StatusCache } from '../jobs/status-cache.ts'
import type { JobEventLog } from '../jobs/job-event-log.ts'
import type { RedisLease } from './lease.ts'

export interface SweeperDeps {
  store: JobStore
  queue: JobQueue
  cache: StatusCache
  events: JobEventLog
  lease: RedisLease
  logger: Logger
  intervalMs: number
  /** a job younger than this (or updated more recently) is left alone */
  graceMs: number
  maxAttempts: number
  batch: number
}

export interface SweepReport {
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
 * Keeps the database and the queue telling the same story (I1, I2): committed jobs the queue lost
 * are enqueued again (or failed after MAX_ATTEMPTS), jobs BullMQ gave up on are failed, queue entries
 * without a row are dropped. One gateway sweeps at a time (a Redis lease).
 */
export class Sweeper {
  readonly #d: SweeperDeps
  #abort: AbortController | null = null
  #timer: NodeJS.Timeout | null = null
  #running: Promise<unknown> = Promise.resolve()

  constructor (deps: SweeperDeps) {
    this.#d = deps
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
    } catch (err) {
      this.#d.logger.warn({ err: (err as Error).message }, 'sweep skipped: a store is unavailable')
    }
  }

  async sweep (): Promise<SweepReport> {
    const report: SweepReport = { requeued: 0, failed: 0, dropped: 0 }
    await this.#repairLiveJobs(report)
    await this.#dropPhantoms(report)
    return report
  }

  async #repairLiveJobs (report: SweepReport): Promise<void> {
    const { store, queue, cache, events, logger, maxAttempts, graceMs, batch } = this.#d
    const stale = await store.findStale(new Date(Date.now() - graceMs), batch)
    if (stale.length === 0) return
    const states = await queue.inspect(stale.map(j => j.id))
    for (const row of stale) {
      const state = states.get(row.id)!
      const log = logger.child({ job_id: row.id })
      if (state.kind === 'present') continue
      let reason: string | null = null
      if (state.kind === 'failed') reason = `the queue gave up on the job: ${state.failedReason}`
      else if (state.kind === 'missing' && row.attempts >= maxAttempts) reason = `lost by the queue after ${row.attempts} attempts (MAX_ATTEMPTS=${maxAttempts})`
      if (reason) {
        if (await store.end(row.id, 'failed', new Date(), reason)) {
          await cache.apply(row.id, { job_id: row.id, status: 'failed', error: reason, node: '', finished_at: new Date().toISOString() }, 'force')
          await events.append(row.id, { type: 'failed', status: 'failed', error: reason, at: new Date().toISOString() })
          log.warn({ reason }, 'job failed by the sweeper')
          report.failed++
        }
        continue
      }
      if (state.kind !== 'missing') continue
      const job: QueuedJob = { job_id: row.id, workflow: row.workflow, model: row.model, prompt: row.prompt, params: row.params as unknown as JobParams }
      if (!(await store.requeue(row.id))) continue
      await queue.requeue(job)
      await cache.apply(row.id, {
        job_id: row.id, status: 'queued', progress: 0, step: 0, node: '', error: '', workflow: row.workflow, created_at: row.createdAt.toISOString()
      }, 'state')
      await events.append(row.id, { type: 'queued', status: 'queued', progress: 0, at: new Date().toISOString() })
      log.warn({ was: row.status, attempts: row.attempts }, 'job lost by the queue; enqueued again')
      report.requeued++
    }
  }

  async #dropPhantoms (report: SweepReport): Promise<void> {
    const { store, queue, logger, graceMs, batch } = this.#d
    const ids = await queue.waitingIds(batch)
    const old = ids.filter(id => Date.now() - uuidv7Time(id) > graceMs)
    if (old.length === 0) return
    const known = await store.existing(old)
    for (const id of old) {
      if (known.has(id)) continue
      await queue.remove(id)
      logger.warn({ job_id: id }, 'queue entry without a database row dropped (commit failed, compensation failed)')
      report.dropped++
    }
  }
}
