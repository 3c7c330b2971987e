import { createHash, randomInt } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PrismaClient } from '@comfy-jobs/db'
import { ASPECT_RATIOS, HISTORY_MAX_LIMIT, JOB_ID_PATTERN, MAX_SEED, type GenerateBody, type HistoryQuery, type HistoryResponse, type JobRecord, type QueuedJob, type StatusResponse } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import type { JobStore } from './job-store.ts'
import { QueuePushError, type JobQueue } from './job-queue.ts'
import type { StatusCache } from './status-cache.ts'
import { statusFromCache, statusFromRow } from './status-view.ts'
import { historyItemView, jobRecordView } from './record-views.ts'
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts'
import { withDeadline } from '../deadline.ts'

export interface Runnable {
  workflows: ReadonlySet<string>
  models: ReadonlySet<string>
  /** the models each workflow takes */
  modelsByWorkflow: ReadonlyMap<string, ReadonlySet<string>>
}

export interface JobServiceDeps {
  prisma: PrismaClient
  store: JobStore
  queue: JobQueue
  cache: StatusCache
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

function isUniqueViolation (err: unknown): boolean {
  return (err as { code?: string })?.code === 'P2002'
}

/** SHA-256 of the request as the job rules see it (defaults applied, fields in a fixed order). */
function requestHash (body: GenerateBody): string {
  const canonical = [body.prompt, body.workflow, body.model, body.aspect_ratio, body.seed, body.batch_size]
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

export interface SubmitOptions {
  /** the client's Idempotency-Key: a repeat with the same body returns the same job */
  idempotencyKey?: string
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

/** The rules of a job, shared by every transport (REST now, gRPC later). */
export class JobService {
  readonly #d: JobServiceDeps
  /** submits in flight per Idempotency-Key: a burst of repeats waits for the first instead of racing it in the database */
  readonly #keyed = new Map<string, Promise<unknown>>()

  constructor (deps: JobServiceDeps) {
    this.#d = deps
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
   */
  async submit (body: GenerateBody, opts: SubmitOptions = {}): Promise<SubmitResult> {
    this.#checkRunnable(body)
    const key = opts.idempotencyKey
    if (!key) return this.#submit(body)
    const before = this.#keyed.get(key) ?? Promise.resolve()
    const mine = before.catch(() => {}).then(() => this.#submit(body, { key, requestHash: requestHash(body) }))
    this.#keyed.set(key, mine)
    try {
      return await mine
    } finally {
      if (this.#keyed.get(key) === mine) this.#keyed.delete(key)
    }
  }

  async #submit (body: GenerateBody, idempotency?: { key: string, requestHash: string }): Promise<SubmitResult> {
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
    const row = await this.#d.store.find(jobId)
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
}
