import { createHash, randomInt } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PrismaClient } from '@comfy-jobs/db'
import {
  ASPECT_RATIOS, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, JOB_ID_PATTERN, MAX_SEED, isTerminal,
  type GenerateBody, type HistoryQuery, type HistoryResponse, type JobPage, type JobRecord, type JobStatus, type QueuedJob, type StatusResponse
} from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { isUniqueViolation, type JobStore } from './job-store.ts'
import { QueuePushError, type JobQueue } from './job-queue.ts'
import type { StatusCache } from './status-cache.ts'
import type { JobEventLog } from './job-event-log.ts'
import { statusFromCache, statusFromRow } from './status-view.ts'
import { StatusRows } from './status-rows.ts'
import { historyItemView, jobRecordView } from './record-views.ts'
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts'
import { withDeadline } from '../deadline.ts'

export interface Runnable {
  workflows: ReadonlySet<string>
  models: ReadonlySet<string>
  /** the models each workflow takes */
  modelsByWorkflow: ReadonlyMap<string, ReadonlySet<string>>
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
  /** a cheap probe, asked only after a failure, to tell "database down" from "too busy" */
  databaseReachable: () => Promise<boolean>
  logger: Logger
  metrics: GatewayMetrics
  txMaxWaitMs: number
  txTimeoutMs: number
  redisReadTimeoutMs: number
}

const UUID = new RegExp(JOB_ID_PATTERN)

export function isJobId (id: string): boolean {
  return UUID.test(id)
}

/** SHA-256 of the request as the job rules see it (defaults applied, fields in a fixed order). */
function requestHash (body: GenerateBody): string {
  const canonical = [body.prompt, body.workflow, body.model, body.aspect_ratio, body.seed, body.batch_size]
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

export interface SubmitOptions {
  /** the client's Idempotency-Key: a repeat with the same body returns the same job */
  idempotencyKey?: string
  /** the caller gave up (e.g. a gRPC deadline): roll back if the push has not happened yet */
  signal?: AbortSignal
}

export interface SubmitResult {
  job_id: string
  /** true when an earlier submit with the same Idempotency-Key created the job */
  replayed: boolean
}

function isTxStartTimeout (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e?.code === 'P2028' || /Unable to start a transaction/i.test(e?.message ?? '')
}

const CANCELLED_ERROR = 'cancelled'

/** The rules of a job, shared by every transport (REST and gRPC). */
export class JobService {
  readonly #d: JobServiceDeps
  /** submits in flight per Idempotency-Key: a burst of repeats waits for the first instead of racing it in the database */
  readonly #keyed = new Map<string, Promise<unknown>>()
  /** status reads that miss Redis, batched into one query per turn of the event loop */
  readonly #statusRows: StatusRows

  constructor (deps: JobServiceDeps) {
    this.#d = deps
    this.#statusRows = new StatusRows(deps.prisma)
  }

  #checkRunnable (body: GenerateBody): void {
    const { workflows, models, modelsByWorkflow } = this.#d.runnable()
    const problems: Array<{ field: string, message: string }> = []
    if (!workflows.has(body.workflow)) {
      problems.push({ field: 'workflow', message: `unknown workflow ${JSON.stringify(body.workflow)}; the workers run: ${[...workflows].join(', ')}` })
    }
    if (!models.has(body.model)) {
      problems.push({ field: 'model', message: `unknown model ${JSON.stringify(body.model)}; the workers have: ${[...models].join(', ')}` })
    } else if (workflows.has(body.workflow) && !modelsByWorkflow.get(body.workflow)?.has(body.model)) {
      const takes = [...modelsByWorkflow.get(body.workflow) ?? []]
      problems.push({ field: 'model', message: `workflow ${JSON.stringify(body.workflow)} does not take model ${JSON.stringify(body.model)}; it takes: ${takes.join(', ') || 'none available now'}` })
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
  async submit (body: GenerateBody, opts: SubmitOptions = {}): Promise<SubmitResult> {
    this.#checkRunnable(body)
    opts.signal?.throwIfAborted()
    const key = opts.idempotencyKey
    if (!key) return this.#submit(body, undefined, opts.signal)
    const before = this.#keyed.get(key) ?? Promise.resolve()
    const mine = before.catch(() => {}).then(() => this.#submit(body, { key, requestHash: requestHash(body) }, opts.signal))
    this.#keyed.set(key, mine)
    try {
      return await mine
    } finally {
      if (this.#keyed.get(key) === mine) this.#keyed.delete(key)
    }
  }

  async #submit (body: GenerateBody, idempotency?: { key: string, requestHash: string }, signal?: AbortSignal): Promise<SubmitResult> {
    if (idempotency) {
      const earlier = await this.#replay(idempotency)
      if (earlier) return earlier
    }
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
    const started = performance.now()
    const createdAt = new Date()
    let pushed = false
    try {
      await this.#d.prisma.$transaction(async tx => {
        await this.#d.store.insert(tx, job, createdAt, idempotency)
        log.info({ step: 'db_insert' }, 'job written to database (uncommitted)')
        signal?.throwIfAborted()
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
      if (idempotency && isUniqueViolation(err)) {
        // a concurrent submit with the same key committed first
        const earlier = await this.#replay(idempotency)
        if (earlier) return earlier
      }
      if (signal?.aborted && err === signal.reason) {
        log.info({ step: 'abandoned' }, 'the caller gave up before the push; database rolled back')
        throw err
      }
      if (!(await this.#d.databaseReachable())) {
        log.error({ step: 'db_unavailable', err: (err as Error).message }, 'database unreachable; job not created')
        throw new AppError('DATABASE_UNAVAILABLE', { headers: { 'retry-after': '2' }, details: (err as Error).message, cause: err })
      }
      if (isTxStartTimeout(err)) {
        log.warn({ step: 'overloaded', err }, 'no database connection free for a transaction; shedding load')
        throw new AppError('OVERLOADED', { headers: { 'retry-after': '1' }, cause: err })
      }
      log.error({ step: 'db_insert_failed', err }, 'job could not be written to the database')
      throw new AppError('JOB_CREATE_FAILED', { details: (err as Error).message, cause: err })
    }
    log.info({ step: 'commit' }, 'transaction committed')
    this.#d.metrics.jobSubmitted(job.workflow, (performance.now() - started) / 1000)
    return { job_id: job.job_id, replayed: false }
  }

  async #replay (idempotency: { key: string, requestHash: string }): Promise<SubmitResult | null> {
    const earlier = await this.#d.store.findByIdempotencyKey(idempotency.key)
    if (!earlier) return null
    if (earlier.requestHash !== idempotency.requestHash) {
      throw new AppError('IDEMPOTENCY_CONFLICT', { extra: { job_id: earlier.id } })
    }
    return { job_id: earlier.id, replayed: true }
  }

  /** Redis first, then the database; null when neither knows the job. */
  async status (jobId: string): Promise<StatusResponse | null> {
    if (!isJobId(jobId)) return null
    try {
      const hash = await withDeadline(this.#d.cache.read(jobId), this.#d.redisReadTimeoutMs, 'Redis status read')
      if (hash) {
        this.#d.metrics.statusRead('redis')
        return statusFromCache(hash)
      }
    } catch (err) {
      this.#d.logger.warn({ job_id: jobId, err: (err as Error).message }, 'Redis status read failed; answering from the database')
    }
    const row = await this.#statusRows.find(jobId)
    if (!row) return null
    this.#d.metrics.statusRead('database')
    return statusFromRow(row)
  }

  /** The job's full record from the database; null when there is no such job. */
  async record (jobId: string): Promise<JobRecord | null> {
    if (!isJobId(jobId)) return null
    const row = await this.#d.store.find(jobId)
    return row ? jobRecordView(row) : null
  }

  /** Newest first; `limit` is capped at HISTORY_MAX_LIMIT; an unknown `before` is a 400 naming it. */
  async history (query: HistoryQuery): Promise<HistoryResponse> {
    const limit = Math.min(query.limit, HISTORY_MAX_LIMIT)
    const page = await this.#d.store.list({ limit, offset: query.offset, before: query.before })
    if (!page) {
      const details = [{ field: 'before', message: `before must be the id of an existing job; no job ${query.before}` }]
      throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
    }
    const jobs = page.jobs.map(historyItemView)
    const more = page.jobs.length === limit
    return { total: page.total, limit, offset: query.offset, jobs, next_before: more ? jobs[jobs.length - 1].id : null }
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
    const { total, jobs } = (await this.#d.store.list({ limit, offset }))!
    return { total, limit, offset, jobs: jobs.map(historyItemView) }
  }
}

function notCancellable (status: string): AppError {
  return new AppError('JOB_NOT_CANCELLABLE', { extra: { error: `Cannot cancel job with status: ${status}`, job_status: status } })
}
