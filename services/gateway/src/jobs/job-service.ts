import type { QueueAdmission } from './queue-admission.ts'
import type { LiveJobLimit } from '../limits/live-jobs.ts'
import { createHash, randomInt } from 'node:crypto'
import { v7 as uuidv7 } from 'uuid'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PrismaClient } from '@comfy-jobs/db'
import {
  ASPECT_RATIOS, DEFAULT_MODEL, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, JOB_ID_PATTERN, MAX_SEED, RAW_GRAPH_WORKFLOW, rawGraphDeclaration, TEXT_ONLY, isTerminal,
  type ApiGraph, type GenerateBody, type HistoryQuery, type HistoryResponse, type JobPage, type JobRecord, type JobStatus, type QueuedJob, type StatusResponse,
  type WorkflowDeclaration
} from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import type { JobStore } from './job-store.ts'
import type { JobQueue } from './job-queue.ts'
import type { JobCreator, Idempotency } from './job-creator.ts'
import type { CommitOutcome } from './commit-outcome.ts'
import { UNCONFIRMED, type StatusCache } from './status-cache.ts'
import type { JobEventLog } from './job-event-log.ts'
import { statusFromCache, statusFromRow } from './status-view.ts'
import type { StatusRows } from './status-rows.ts'
import { historyItemView, jobRecordView } from './record-views.ts'
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts'
import { withDeadline } from '../deadline.ts'
import { canonicalInputs, type InputResolver, type ResolvedInputs } from '../inputs/input-resolver.ts'
import type { UploadStore } from '../uploads/upload-store.ts'
import type { UploadQuota } from '../limits/upload-quota.ts'
import type { JobWebhook } from '../webhooks/outbox.ts'

export interface Runnable {
  workflows: ReadonlySet<string>
  models: ReadonlySet<string>
  /** the models each workflow takes, its default first */
  modelsByWorkflow: ReadonlyMap<string, ReadonlySet<string>>
  /** what each workflow takes besides the common parameters (its template's manifest) */
  declarations: ReadonlyMap<string, WorkflowDeclaration>
  /** the model files each workflow's template needs */
  modelFiles: ReadonlyMap<string, readonly string[]>
  /** other names a submit may use for a workflow (the original pages' names) → the workflow */
  aliases: ReadonlyMap<string, string>
}

/** Who can stop a job a worker holds. */
export interface WorkerCanceller {
  cancel: (jobId: string, workerId: string | null, reason: string) => Promise<string[]>
}

export interface JobServiceDeps {
  prisma: PrismaClient
  /** status reads that miss Redis, batched */
  statusRows: StatusRows
  creator: JobCreator
  outcome: CommitOutcome
  store: JobStore
  queue: JobQueue
  cache: StatusCache
  events: JobEventLog
  workers: WorkerCanceller
  runnable: () => Runnable
  /** why a queued job waits: no live worker can run its workflow with its model; null when one can */
  waitingReason?: (workflow: string, model: string) => string | null
  /** checks a raw graph (workflow_graph), throwing a VALIDATION AppError naming the node */
  rawGraphs: { check: (graph: unknown) => ApiGraph }
  inputs: InputResolver
  uploads: UploadStore
  /** inline (data: URL) inputs count against their owner's uploads as uploaded files do */
  uploadQuota?: UploadQuota
  /** checks a submit's webhook (a VALIDATION AppError naming `webhook`), before anything is written */
  webhooks: { check: (body: GenerateBody) => Promise<JobWebhook | undefined> }
  logger: Logger
  metrics: GatewayMetrics
  redisReadTimeoutMs: number
  /** how long a status read of a job whose commit is in doubt asks the database */
  outcomeTimeoutMs: number
  /** how long the idempotency lookup before a submit may take: as long as a transaction may wait and run */
  lookupTimeoutMs: number
  /** MAX_QUEUE_DEPTH; none: no limit */
  admission?: QueueAdmission
  /** MAX_LIVE_JOBS_PER_OWNER; none: no limit */
  liveJobs?: LiveJobLimit
}

const UUID = new RegExp(JOB_ID_PATTERN)

export function isJobId (id: string): boolean {
  return UUID.test(id)
}

/** A submit once its model is chosen and its inputs are checked: what the job is made from. */
interface Request {
  body: GenerateBody
  model: string
  resolved: ResolvedInputs
  webhook?: JobWebhook
}

/**
 * SHA-256 of the request as the job rules see it (defaults applied, fields in a fixed order, inputs by
 * content: an upload and the same file sent inline are the same request). Jobs without inputs hash as
 * they did before inputs existed, so earlier keys still replay.
 */
function requestHash ({ body, model, resolved }: Request): string {
  const canonical: unknown[] = [resolved.prompt, body.workflow, model, body.aspect_ratio, body.seed, body.batch_size]
  const inputs = canonicalInputs(resolved.inputs)
  if (inputs.length > 0 || resolved.prompts.length > 0) canonical.push(inputs, resolved.prompts)
  if (body.workflow_graph !== undefined) canonical.push(body.workflow_graph)
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

/**
 * Whose jobs a read, watch or cancel may touch: one owner's, or every owner's (null, for admin).
 * Another owner's job is answered exactly as a job that does not exist.
 */
export type OwnerScope = string | null

export interface SubmitOptions {
  /** who the job belongs to (and whose secrets sign its webhooks) */
  owner: string
  /** the client's Idempotency-Key (the owner's): a repeat with the same body returns the same job */
  idempotencyKey?: string
  /** the caller gave up (e.g. a gRPC deadline): roll back if the push has not happened yet */
  signal?: AbortSignal
}

export interface SubmitResult {
  job_id: string
  /** true when an earlier submit with the same Idempotency-Key created the job */
  replayed: boolean
}

const CANCELLED_ERROR = 'cancelled'

/** The rules of a job, shared by every transport (REST and gRPC). */
export class JobService {
  readonly #d: JobServiceDeps
  /** submits in flight per Idempotency-Key: a burst of repeats waits for the first instead of racing it in the database */
  readonly #keyed = new Map<string, Promise<unknown>>()

  constructor (deps: JobServiceDeps) {
    this.#d = deps
  }

  /** The workflow must be runnable and take the model (by default its first); returns the model and what the workflow declares. */
  #checkRunnable (body: GenerateBody): { model: string, declaration: WorkflowDeclaration } {
    const { workflows, models, modelsByWorkflow, declarations } = this.#d.runnable()
    const problems: Array<{ field: string, message: string }> = []
    const takes = [...modelsByWorkflow.get(body.workflow) ?? []]
    const model = body.model ?? takes[0] ?? DEFAULT_MODEL
    if (!workflows.has(body.workflow)) {
      problems.push({ field: 'workflow', message: `unknown workflow ${JSON.stringify(body.workflow)}; the workers run: ${[...workflows].join(', ')}` })
    }
    if (!models.has(model)) {
      problems.push({ field: 'model', message: `unknown model ${JSON.stringify(model)}; the workers have: ${[...models].join(', ')}` })
    } else if (workflows.has(body.workflow) && !modelsByWorkflow.get(body.workflow)?.has(model)) {
      problems.push({ field: 'model', message: `workflow ${JSON.stringify(body.workflow)} does not take model ${JSON.stringify(model)}; it takes: ${takes.join(', ') || 'none available now'}` })
    }
    if (problems.length > 0) {
      throw new AppError('VALIDATION', { details: problems, extra: { error: `Invalid request: ${problems.map(p => `${p.field}: ${p.message}`).join('; ')}` } })
    }
    return { model, declaration: declarations.get(body.workflow) ?? TEXT_ONLY }
  }

  /**
   * Insert row → push to queue → initialise status → commit, in one interactive transaction.
   * A failed push rolls the row back; a failed commit after the push removes the queue entry and key.
   * A caller that gives up (`signal`, e.g. a passed deadline) before the push rolls back the same way.
   */
  async submit (given: GenerateBody, opts: SubmitOptions): Promise<SubmitResult> {
    // a workflow named by an alias is that workflow: the job, its hash and its history carry the real name
    const workflow = given.workflow_graph === undefined ? this.#d.runnable().aliases.get(given.workflow) : undefined
    const body = workflow !== undefined ? { ...given, workflow } : given
    // a raw graph runs as given on a ComfyUI worker: it needs no workflow or model the workers list
    const graph = body.workflow_graph !== undefined ? this.#d.rawGraphs.check(body.workflow_graph) : undefined
    const { model, declaration } = graph !== undefined ? { model: '', declaration: rawGraphDeclaration(graph) } : this.#checkRunnable(body)
    const webhook = await this.#d.webhooks.check(body)
    const resolved = await this.#d.inputs.resolve(body, graph !== undefined ? RAW_GRAPH_WORKFLOW : body.workflow, declaration)
    const request: Request = { body, model, resolved, webhook }
    opts.signal?.throwIfAborted()
    const key = opts.idempotencyKey
    if (!key) return this.#submit(request, opts.owner, undefined, opts.signal)
    const slot = `${opts.owner}\n${key}`
    const before = this.#keyed.get(slot) ?? Promise.resolve()
    const mine = before.catch(() => {}).then(() => this.#submit(request, opts.owner, { owner: opts.owner, key, requestHash: requestHash(request) }, opts.signal))
    this.#keyed.set(slot, mine)
    try {
      return await mine
    } finally {
      if (this.#keyed.get(slot) === mine) this.#keyed.delete(slot)
    }
  }

  async #submit ({ body, model, resolved, webhook }: Request, owner: string, idempotency?: Idempotency, signal?: AbortSignal): Promise<SubmitResult> {
    if (idempotency) {
      await this.#d.creator.awaitDoubt(idempotency)
      const earlier = await this.#replay(idempotency)
      if (earlier) return earlier
    }
    // after a replay (which creates nothing) and before anything is stored
    await this.#d.admission?.admit()
    const limit = this.#d.liveJobs
    // no await at all while the limit is off: a submit's path stays as it was
    const release = limit !== undefined && limit.max > 0 ? await limit.admit(owner) : undefined
    let created = false
    try {
      const result = await this.#create({ body, model, resolved, webhook }, owner, idempotency, signal)
      created = !result.replayed
      return result
    } catch (err) {
      // a job whose commit is in doubt may exist: it counts until the owner's next count says
      created = err instanceof AppError && err.code === 'OUTCOME_UNKNOWN'
      throw err
    } finally {
      release?.(created)
    }
  }

  async #create ({ body, model, resolved, webhook }: Request, owner: string, idempotency?: Idempotency, signal?: AbortSignal): Promise<SubmitResult> {
    const size = ASPECT_RATIOS[body.aspect_ratio as keyof typeof ASPECT_RATIOS]
    const graph = body.workflow_graph as ApiGraph | undefined
    const job: QueuedJob = {
      job_id: uuidv7(),
      workflow: graph !== undefined ? RAW_GRAPH_WORKFLOW : body.workflow,
      model,
      prompt: resolved.prompt,
      params: {
        aspect_ratio: body.aspect_ratio as QueuedJob['params']['aspect_ratio'],
        width: size.width,
        height: size.height,
        seed: body.seed === -1 ? randomInt(0, MAX_SEED + 1) : body.seed,
        batch_size: body.batch_size
      },
      ...(Object.keys(resolved.inputs).length > 0 ? { inputs: resolved.inputs } : {}),
      ...(resolved.prompts.length > 0 ? { prompts: resolved.prompts } : {}),
      ...(graph !== undefined ? { graph } : {})
    }
    const log = this.#d.logger.child({ job_id: job.job_id })
    await this.#storeInlineFiles(resolved, owner, log)
    const started = performance.now()
    if (await this.#d.creator.create(job, owner, new Date(), idempotency, signal, webhook) === 'duplicate') {
      // a concurrent submit with the same key committed first
      const earlier = await this.#replay(idempotency!)
      if (earlier) return earlier
      throw new AppError('JOB_CREATE_FAILED', { details: 'the Idempotency-Key is taken, but its job could not be read' })
    }
    this.#d.metrics.jobSubmitted(job.workflow, (performance.now() - started) / 1000)
    return { job_id: job.job_id, replayed: false }
  }

  /** Files sent as data: URLs, checked already, stored before the job that references them is written. */
  async #storeInlineFiles (resolved: ResolvedInputs, owner: string, log: Logger): Promise<void> {
    for (const file of resolved.files) await this.#d.uploadQuota?.charge(owner, file.name, file.data.length)
    try {
      for (const file of resolved.files) await this.#d.uploads.put(file.name, file.data)
    } catch (err) {
      log.error({ step: 'inputs_store_failed', err }, 'an inline input could not be stored; job not created')
      throw new AppError('JOB_CREATE_FAILED', { details: 'an input file could not be stored; nothing was kept', cause: err })
    }
    if (resolved.files.length > 0) log.info({ step: 'inputs_stored', files: resolved.files.map(f => f.name) }, 'inline inputs stored')
  }

  async #replay (idempotency: Idempotency): Promise<SubmitResult | null> {
    const since = Date.now()
    const lookup = this.#d.store.findByIdempotencyKey(idempotency.owner, idempotency.key)
    const earlier = await withDeadline(lookup, this.#d.lookupTimeoutMs, 'idempotency lookup').catch(async (err: unknown) => {
      throw await this.#d.creator.failureOf(err, since, this.#d.logger.child({ idempotency_key: idempotency.key }))
    })
    if (!earlier) return null
    if (earlier.requestHash !== idempotency.requestHash) {
      throw new AppError('IDEMPOTENCY_CONFLICT', { extra: { job_id: earlier.id } })
    }
    return { job_id: earlier.id, replayed: true }
  }

  /**
   * Redis first, then the database; null when neither knows the job, or it is not `owner`'s. The hash
   * names the owner, so the usual read never asks the database; a hash without one (written before
   * owners, or re-created by a late event) defers to the row.
   */
  async status (jobId: string, owner: OwnerScope): Promise<StatusResponse | null> {
    if (!isJobId(jobId)) return null
    let hash: Record<string, string> | null = null
    try {
      hash = await withDeadline(this.#d.cache.read(jobId), this.#d.redisReadTimeoutMs, 'Redis status read')
    } catch (err) {
      this.#d.logger.warn({ job_id: jobId, err: (err as Error).message }, 'Redis status read failed; answering from the database')
    }
    if (hash && owner !== null && hash.owner !== owner) {
      if (hash.owner !== undefined) return null
      hash = null
    }
    if (hash?.[UNCONFIRMED]) return this.#statusOfDoubtfulCommit(jobId, owner)
    // a queued job's hash written before it carried the model cannot say why the job waits: the row can
    if (hash && !(hash.status === 'queued' && (hash.workflow === undefined || hash.model === undefined))) {
      this.#d.metrics.statusRead('redis')
      return this.#withWaitingReason(statusFromCache(hash), hash.workflow, hash.model)
    }
    const row = await this.#d.statusRows.find(jobId)
    if (!row || (owner !== null && row.owner !== owner)) return null
    this.#d.metrics.statusRead('database')
    return this.#withWaitingReason(statusFromRow(row), row.workflow, row.model)
  }

  /** A queued job that no live worker can run says why it waits (invariant I10); any other answer is as it is. */
  #withWaitingReason<T extends { status: JobStatus }> (view: T, workflow: string | undefined, model: string | undefined): T & { waiting_reason?: string } {
    if (view.status !== 'queued' || workflow === undefined || model === undefined) return view
    const reason = this.#d.waitingReason?.(workflow, model) ?? null
    return reason === null ? view : { ...view, waiting_reason: reason }
  }

  /**
   * A job whose submit was answered OUTCOME_UNKNOWN: its hash was written before a COMMIT whose fate
   * is not known to have been settled, so the database is asked (with a locking read, see
   * CommitOutcome). Committed: the row answers. Absent: not found (and the hash goes). Still open:
   * OUTCOME_UNKNOWN again.
   */
  async #statusOfDoubtfulCommit (jobId: string, owner: OwnerScope): Promise<StatusResponse | null> {
    const outcome = await this.#d.outcome.once(jobId, null, this.#d.outcomeTimeoutMs)
    if (outcome === 'unknown') throw new AppError('OUTCOME_UNKNOWN', { headers: { 'retry-after': '2' }, extra: { job_id: jobId } })
    if (outcome === 'absent') {
      await this.#d.cache.remove(jobId).catch(() => {})
      return null
    }
    await this.#d.cache.confirm(jobId).catch(() => {})
    const row = await this.#d.statusRows.find(jobId)
    if (!row || (owner !== null && row.owner !== owner)) return null
    this.#d.metrics.statusRead('database')
    return this.#withWaitingReason(statusFromRow(row), row.workflow, row.model)
  }

  /** The job's full record from the database; null when there is no such job. */
  async record (jobId: string, owner: OwnerScope): Promise<JobRecord | null> {
    if (!isJobId(jobId)) return null
    const row = await this.#d.store.find(jobId)
    if (!row || (owner !== null && row.owner !== owner)) return null
    const record = jobRecordView(row)
    return this.#withWaitingReason(record, record.workflow, record.model)
  }

  /** Whether the job exists and is `owner`'s (any owner's for null). */
  async visible (jobId: string, owner: OwnerScope): Promise<boolean> {
    if (!isJobId(jobId)) return false
    const of = await this.#d.store.ownerOf(jobId)
    return of !== null && (owner === null || of === owner)
  }

  /** Newest first; `limit` is capped at HISTORY_MAX_LIMIT; an unknown `before` is a 400 naming it. */
  async history (query: HistoryQuery, owner: OwnerScope): Promise<HistoryResponse> {
    const limit = Math.min(query.limit, HISTORY_MAX_LIMIT)
    const page = await this.#d.store.list({ limit, offset: query.offset, before: query.before, owner })
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
  async cancel (jobId: string, owner: OwnerScope): Promise<{ job_id: string, previous_status: JobStatus }> {
    const found = isJobId(jobId) ? await this.#d.store.find(jobId) : null
    const row = found && (owner === null || found.owner === owner) ? found : null
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
      throw new AppError('QUEUE_UNAVAILABLE', { details: 'the job queue (Redis) cannot be reached; the job was not cancelled', cause: err })
    }
    const at = new Date()
    if (!await this.#d.store.end(jobId, 'cancelled', at, CANCELLED_ERROR)) {
      const now = await this.#d.store.find(jobId)
      throw notCancellable(now?.status ?? 'unknown')
    }
    log.info({ step: 'cancel', previous_status: row.status, withdrawn }, 'job cancelled in the database')
    try {
      await this.#d.cache.apply(jobId, { job_id: jobId, status: 'cancelled', error: CANCELLED_ERROR, node: '', finished_at: at.toISOString() }, 'force')
      const end = await this.#d.events.append(jobId, { type: 'cancelled', status: 'cancelled', error: CANCELLED_ERROR, at: at.toISOString() })
      await this.#d.store.recordEnd(jobId, end)
      // The hash takes no progress once it says cancelled, so its progress is now the job's last one;
      // the row's lags behind it by up to PROGRESS_DB_INTERVAL_MS.
      const last = await this.#d.cache.read(jobId)
      if (last !== null && Number(last.progress) > 0) {
        await this.#d.store.keepLastProgress(jobId, 'cancelled', { progress: Number(last.progress), step: last.step ? Number(last.step) : null })
      }
    } catch (err) {
      // The database is the truth and says cancelled; the cached status catches up only when it expires.
      log.error({ step: 'cancel_cache_failed', err: (err as Error).message }, 'cancel: status cache, event log or where the log ends not updated')
    }
    if (!withdrawn) {
      // a worker holds it; what it sends about the job from now on is refused by the ingestor
      const answers = await this.#d.workers.cancel(jobId, row.workerId, 'cancelled by request')
      log.info({ step: 'cancel_worker', answers }, 'asked the worker to stop the job')
    }
    return { job_id: jobId, previous_status: row.status }
  }

  /** Jobs newest first; `limit` 1..100 (default 50), `total` counts every job. */
  async list (page: { limit?: number, offset?: number }, owner: OwnerScope): Promise<JobPage> {
    const limit = Math.min(Math.max(Math.trunc(page.limit || HISTORY_DEFAULT_LIMIT), 1), HISTORY_MAX_LIMIT)
    const offset = Math.max(Math.trunc(page.offset ?? 0), 0)
    const { total, jobs } = (await this.#d.store.list({ limit, offset, owner }))!
    return { total, limit, offset, jobs: jobs.map(historyItemView) }
  }
}

function notCancellable (status: string): AppError {
  return new AppError('JOB_NOT_CANCELLABLE', { extra: { error: `Cannot cancel job with status: ${status}`, job_status: status } })
}
