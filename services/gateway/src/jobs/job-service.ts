import { randomInt } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PrismaClient } from '@comfy-jobs/db'
import {
  ASPECT_RATIOS, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, MAX_SEED, isTerminal,
  type GenerateBody, type JobPage, type JobStatus, type QueuedJob, type StatusResponse
} from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import type { JobStore } from './job-store.ts'
import { QueuePushError, type JobQueue } from './job-queue.ts'
import type { StatusCache } from './status-cache.ts'
import type { JobEventLog } from './job-event-log.ts'
import { statusFromCache, statusFromRow, summaryFromRow } from './status-view.ts'
import { withDeadline } from '../deadline.ts'

export interface Runnable {
  workflows: ReadonlySet<string>
  models: ReadonlySet<string>
}

/** Who can stop a job a worker holds. */
export interface WorkerCanceller {
  cancel: (jobId: string, workerId: string | null, reason: string) => Promise<string[]>
}

export interface JobServiceDeps {
  prisma: PrismaClient
  store: JobStore
  queue: JobQueue
  cache: StatusCache
  events: JobEventLog
  workers: WorkerCanceller
  runnable: () => Runnable
  logger: Logger
  txMaxWaitMs: number
  txTimeoutMs: number
  redisReadTimeoutMs: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isJobId (id: string): boolean {
  return UUID.test(id)
}

function isTxStartTimeout (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e?.code === 'P2028' || /Unable to start a transaction/i.test(e?.message ?? '')
}

const CANCELLED_ERROR = 'cancelled'

/** The rules of a job, shared by every transport (REST and gRPC). */
export class JobService {
  readonly #d: JobServiceDeps

  constructor (deps: JobServiceDeps) {
    this.#d = deps
  }

  #checkRunnable (body: GenerateBody): void {
    const { workflows, models } = this.#d.runnable()
    const problems: Array<{ field: string, message: string }> = []
    if (!workflows.has(body.workflow)) {
      problems.push({ field: 'workflow', message: `unknown workflow ${JSON.stringify(body.workflow)}; the workers run: ${[...workflows].join(', ')}` })
    }
    if (!models.has(body.model)) {
      problems.push({ field: 'model', message: `unknown model ${JSON.stringify(body.model)}; the workers have: ${[...models].join(', ')}` })
    }
    if (problems.length > 0) {
      throw new AppError('VALIDATION', { details: problems, extra: { error: `Invalid request: ${problems.map(p => `${p.field}: ${p.message}`).join('; ')}` } })
    }
  }

  /**
   * Insert row → push to queue → initialise status → commit, in one interactive transaction.
   * A failed push rolls the row back; a failed commit after the push removes the queue entry and key.
   * A caller that gives up (`signal`, e.g. a passed deadline) before the push rolls back the same way.
   */
  async submit (body: GenerateBody, opts: { signal?: AbortSignal } = {}): Promise<{ job_id: string }> {
    this.#checkRunnable(body)
    opts.signal?.throwIfAborted()
    const size = ASPECT_RATIOS[body.aspect_ratio as keyof typeof ASPECT_RATIOS]
    const job: QueuedJob = {
      job_id: uuidv7(),
      workflow: body.workflow,
      model: body.model,
      prompt: body.prompt,
      params: {
        aspect_ratio: body.aspect_ratio as QueuedJob['params']['aspect_ratio'],
        width: size.width,
        height: size.height,
        seed: body.seed === -1 ? randomInt(0, MAX_SEED + 1) : body.seed,
        batch_size: body.batch_size
      }
    }
    const log = this.#d.logger.child({ job_id: job.job_id })
    const createdAt = new Date()
    let pushed = false
    try {
      await this.#d.prisma.$transaction(async tx => {
        await this.#d.store.insert(tx, job, createdAt)
        log.info({ step: 'db_insert' }, 'job written to database (uncommitted)')
        opts.signal?.throwIfAborted()
        await this.#d.queue.push(job, createdAt)
        pushed = true
        log.info({ step: 'queue_push' }, 'job pushed to Redis queue')
        log.info({ step: 'status_init' }, 'Redis status initialised')
      }, { maxWait: this.#d.txMaxWaitMs, timeout: this.#d.txTimeoutMs })
    } catch (err) {
      if (err instanceof QueuePushError) {
        log.error({ step: 'rollback', err, cause: (err.cause as Error)?.message }, 'Redis push failed, database rolled back')
        throw new AppError('QUEUE_UNAVAILABLE', { details: err.message, cause: err })
      }
      if (pushed) {
        log.error({ step: 'commit_failed', err }, 'commit failed after the push; removing the queue entry and status key')
        await this.#d.queue.remove(job.job_id).then(
          () => log.warn({ step: 'compensated' }, 'queue entry and status key removed'),
          (removeErr: unknown) => log.error({ step: 'compensation_failed', err: removeErr }, 'compensation failed; the sweeper must drop this job'))
        throw new AppError('JOB_CREATE_FAILED', { details: (err as Error).message, cause: err })
      }
      if (opts.signal?.aborted && err === opts.signal.reason) {
        log.info({ step: 'abandoned' }, 'the caller gave up before the push; database rolled back')
        throw err
      }
      if (isTxStartTimeout(err)) {
        log.warn({ step: 'overloaded', err }, 'no database connection free for a transaction; shedding load')
        throw new AppError('OVERLOADED', { headers: { 'retry-after': '1' }, cause: err })
      }
      log.error({ step: 'db_insert_failed', err }, 'job could not be written to the database')
      throw new AppError('JOB_CREATE_FAILED', { details: (err as Error).message, cause: err })
    }
    log.info({ step: 'commit' }, 'transaction committed')
    return { job_id: job.job_id }
  }

  /** Redis first, then the database; null when neither knows the job. */
  async status (jobId: string): Promise<StatusResponse | null> {
    if (!isJobId(jobId)) return null
    try {
      const hash = await withDeadline(this.#d.cache.read(jobId), this.#d.redisReadTimeoutMs, 'Redis status read')
      if (hash) return statusFromCache(hash)
    } catch (err) {
      this.#d.logger.warn({ job_id: jobId, err: (err as Error).message }, 'Redis status read failed; answering from the database')
    }
    const row = await this.#d.store.find(jobId)
    return row ? statusFromRow(row) : null
  }

  /**
   * Stops a job for good. Queued: taken off the queue so it never runs. Processing: its worker is told
   * to stop. Either way the database says cancelled first, so a worker that starts or finishes it
   * afterwards is refused by the ingestor. A job that already ended is JOB_NOT_CANCELLABLE.
   */
  async cancel (jobId: string): Promise<{ job_id: string, previous_status: JobStatus }> {
    const row = isJobId(jobId) ? await this.#d.store.find(jobId) : null
    if (!row) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
    if (isTerminal(row.status)) throw notCancellable(row.status)
    const log = this.#d.logger.child({ job_id: jobId })
    // Also for a processing job: a stalled one may be back on the queue. And it proves Redis is there
    // before anything changes, so an outage is a clean QUEUE_UNAVAILABLE.
    let withdrawn: boolean
    try {
      withdrawn = await this.#d.queue.withdraw(jobId)
    } catch (err) {
      log.error({ step: 'cancel_withdraw_failed', err: (err as Error).message }, 'cancel: Redis unreachable; nothing changed')
      throw new AppError('QUEUE_UNAVAILABLE', { details: (err as Error).message, cause: err })
    }
    const at = new Date()
    if (!await this.#d.store.end(jobId, 'cancelled', at, CANCELLED_ERROR)) {
      const now = await this.#d.store.find(jobId)
      throw notCancellable(now?.status ?? 'unknown')
    }
    log.info({ step: 'cancel', previous_status: row.status, withdrawn }, 'job cancelled in the database')
    try {
      await this.#d.cache.apply(jobId, { job_id: jobId, status: 'cancelled', error: CANCELLED_ERROR, node: '', finished_at: at.toISOString() }, 'force')
      await this.#d.events.append(jobId, { type: 'cancelled', status: 'cancelled', error: CANCELLED_ERROR, at: at.toISOString() })
    } catch (err) {
      // The database is the truth and says cancelled; the cached status catches up only when it expires.
      log.error({ step: 'cancel_cache_failed', err: (err as Error).message }, 'cancel: status cache and event log not updated')
    }
    if (!withdrawn) {
      // a worker holds it; what it sends about the job from now on is refused by the ingestor
      const answers = await this.#d.workers.cancel(jobId, row.workerId, 'cancelled by request')
      log.info({ step: 'cancel_worker', answers }, 'asked the worker to stop the job')
    }
    return { job_id: jobId, previous_status: row.status }
  }

  /** Jobs newest first; `limit` 1..100 (default 50), `total` counts every job. */
  async list (page: { limit?: number, offset?: number }): Promise<JobPage> {
    const limit = Math.min(Math.max(Math.trunc(page.limit || HISTORY_DEFAULT_LIMIT), 1), HISTORY_MAX_LIMIT)
    const offset = Math.max(Math.trunc(page.offset ?? 0), 0)
    const { total, jobs } = await this.#d.store.page(limit, offset)
    return { total, limit, offset, jobs: jobs.map(summaryFromRow) }
  }
}

function notCancellable (status: string): AppError {
  return new AppError('JOB_NOT_CANCELLABLE', { extra: { error: `Cannot cancel job with status: ${status}`, job_status: status } })
}
