import type { Prisma, PrismaClient, Job, Output } from '@comfy-jobs/db'
import type { OutputKind, QueuedJob } from '@comfy-jobs/contracts'
import { formatEventId, parseEventId, type EventPosition } from './event-position.ts'
import { outboxInsert, type JobWebhook } from '../webhooks/outbox.ts'
import { Prisma as PrismaNs } from '@comfy-jobs/db'

export type JobWithOutputs = Job & { outputs: Output[] }
export type Tx = Prisma.TransactionClient

export interface NewOutput {
  index: number
  filename: string
  kind: OutputKind
  mime: string
  width: number
  height: number
  bytes: number
  sha256: string
  durationMs: number | null
  frames: number | null
}

/** A job as a submit writes it. */
export interface NewJobRow {
  job: QueuedJob
  createdAt: Date
  idempotency?: { key: string, requestHash: string }
  owner: string
  /** where the job's webhooks go and which events; none: no webhooks */
  webhook?: JobWebhook
}

/** The columns a submit writes, and insertValues() gives each row's values in the same order. */
const INSERT_COLUMNS = ['id', 'owner', 'idempotency_key', 'request_hash', 'workflow', 'model', 'prompt', 'params', 'inputs', 'prompts', 'graph', 'webhook', 'webhook_events', 'created_at', 'updated_at'] as const
const INSERT_ROW = `(${INSERT_COLUMNS.map(() => '?').join(', ')})`

function insertValues ({ job, createdAt, idempotency, owner, webhook }: NewJobRow): unknown[] {
  return [
    job.job_id, owner, idempotency?.key ?? null, idempotency?.requestHash ?? null, job.workflow, job.model,
    job.prompt, JSON.stringify(job.params), job.inputs ? JSON.stringify(job.inputs) : null,
    job.prompts ? JSON.stringify(job.prompts) : null, job.graph ? JSON.stringify(job.graph) : null,
    webhook?.url ?? null, webhook ? webhook.events.join(',') : null, createdAt, createdAt
  ]
}

/** A duplicate key: P2002 from Prisma's model queries; a raw query carries the adapter's own verdict. */
export function isUniqueViolation (err: unknown): boolean {
  const e = err as { code?: string, meta?: { driverAdapterError?: { cause?: { kind?: string } } } }
  return e?.code === 'P2002' || e.meta?.driverAdapterError?.cause?.kind === 'UniqueConstraintViolation'
}

export interface LastProgress {
  progress: number
  step: number | null
}
export type LiveStatus = 'queued' | 'processing'
export const LIVE_STATUSES: readonly LiveStatus[] = ['queued', 'processing']
const LIVE = { in: [...LIVE_STATUSES] }

/** Where a keyset page starts: after this job. */
export interface PageCursor { createdAt: Date, id: string }

/** Every Prisma operation on jobs and their outputs. Transitions only move a live job forward. */
export class JobStore {
  readonly #prisma: PrismaClient
  /** told when a transition put webhook events in the outbox (the dispatcher wakes) */
  onWebhookQueued: () => void = () => {}

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  async insert (tx: Tx, job: QueuedJob, createdAt: Date, idempotency?: { key: string, requestHash: string }, owner = 'local', webhook?: JobWebhook): Promise<void> {
    await this.insertMany(tx, [{ job, createdAt, idempotency, owner, webhook }])
  }

  /**
   * The rows of a submit group in one multi-row INSERT. A plain INSERT: `create` adds a read-back
   * SELECT on MySQL, and `createMany` is compiled by Prisma's WASM query compiler on every call (its
   * plans are not cached): ~9 % of the gateway's CPU under submit load (npm run bench:profile --
   * submit). A duplicate key is told by isUniqueViolation.
   */
  async insertMany (tx: Tx, rows: readonly NewJobRow[]): Promise<void> {
    const values = new Array<string>(rows.length).fill(INSERT_ROW).join(', ')
    await tx.$executeRawUnsafe(`INSERT INTO jobs (${INSERT_COLUMNS.join(', ')}) VALUES ${values}`, ...rows.flatMap(insertValues))
  }

  /** Takes rows a transaction inserted back out of it (members of a group whose callers gave up). */
  async deleteInserted (tx: Tx, ids: readonly string[]): Promise<void> {
    await tx.$executeRawUnsafe(`DELETE FROM jobs WHERE id IN (${ids.map(() => '?').join(', ')})`, ...ids)
  }

  find (id: string): Promise<JobWithOutputs | null> {
    return this.#prisma.job.findUnique({ where: { id }, include: { outputs: { orderBy: { index: 'asc' } } } })
  }

  findByIdempotencyKey (owner: string, key: string): Promise<{ id: string, requestHash: string | null } | null> {
    return this.#prisma.job.findUnique({ where: { owner_idempotencyKey: { owner, idempotencyKey: key } }, select: { id: true, requestHash: true } })
  }

  /** The job's owner; null when there is no such job. */
  async ownerOf (id: string): Promise<string | null> {
    return (await this.#prisma.job.findUnique({ where: { id }, select: { owner: true } }))?.owner ?? null
  }

  /**
   * Up to `limit` jobs in `status` after `after`, in (created_at, id) order: the sweeper's keyset
   * pages. One status at a time, so the (status, created_at) index yields them in order, unsorted.
   */
  livePage (status: LiveStatus, after: PageCursor | null, limit: number): Promise<Job[]> {
    const where: Prisma.JobWhereInput = after
      ? { status, OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] }
      : { status }
    return this.#prisma.job.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: limit })
  }

  /** How many queued or processing jobs `owner` has: a range of the (owner, status) index. */
  liveCount (owner: string): Promise<number> {
    return this.#prisma.job.count({ where: { owner, status: LIVE } })
  }

  /** The subset of ids that have a row. */
  async existing (ids: string[]): Promise<Set<string>> {
    const rows = await this.#prisma.job.findMany({ where: { id: { in: ids } }, select: { id: true } })
    return new Set(rows.map(r => r.id))
  }

  /** A live job goes back to queued (its queue entry was lost); false if it is no longer live. */
  /** The names of the input files live jobs reference (upload retention keeps them). */
  async liveInputNames (): Promise<Set<string>> {
    const rows = await this.#prisma.job.findMany({ where: { status: LIVE }, select: { inputs: true } })
    const names = new Set<string>()
    for (const { inputs } of rows) {
      if (inputs === null || typeof inputs !== 'object') continue
      for (const refs of Object.values(inputs as Record<string, unknown>)) {
        for (const ref of Array.isArray(refs) ? refs : [refs]) {
          if (typeof (ref as { name?: unknown })?.name === 'string') names.add((ref as { name: string }).name)
        }
      }
    }
    return names
  }

  async requeue (id: string): Promise<boolean> {
    const { count } = await this.#prisma.job.updateMany({
      where: { id, status: LIVE },
      data: { status: 'queued', progress: 0, step: null, workerId: null }
    })
    return count === 1
  }

  /**
   * A page of jobs, newest first (created_at desc, id desc: ids are UUIDv7, so ties break in time
   * order too), with the real total. `before` (a job id) starts the page after that job, so pages
   * stay put while new jobs arrive; null when `before` names no job.
   */
  async list (opts: { limit: number, offset: number, before?: string, owner: string | null }): Promise<{ total: number, jobs: JobWithOutputs[] } | null> {
    const mine: Prisma.JobWhereInput = opts.owner !== null ? { owner: opts.owner } : {}
    let where: Prisma.JobWhereInput = mine
    if (opts.before !== undefined) {
      const anchor = await this.#prisma.job.findFirst({ where: { id: opts.before, ...mine }, select: { createdAt: true } })
      if (!anchor) return null
      where = { ...mine, OR: [{ createdAt: { lt: anchor.createdAt } }, { createdAt: anchor.createdAt, id: { lt: opts.before } }] }
    }
    const [total, jobs] = await Promise.all([
      this.#prisma.job.count({ where: mine }),
      this.#prisma.job.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        skip: opts.offset,
        take: opts.limit,
        include: { outputs: { orderBy: { index: 'asc' } } }
      })
    ])
    return { total, jobs }
  }

  async workflowOf (id: string): Promise<string | null> {
    return (await this.#prisma.job.findUnique({ where: { id }, select: { workflow: true } }))?.workflow ?? null
  }


  /**
   * queued|processing → processing, and `attempts` at least `run.attempt`: the worker numbers each
   * run as it begins (the database's count when the queue entry was made, plus the entry's own runs,
   * counted in the entry), so the highest number seen is the number of runs. A replayed STARTED, or
   * an older run's arriving after a newer one's, adds nothing; a run whose events died with its
   * worker is covered by the next run's number. `last_run` keeps the `epoch:seq` of the STARTED
   * applied last (for diagnosis). Returns whether the row is live (false: terminal or missing).
   */
  async markStarted (id: string, at: Date, run: { id: string, attempt: number }, workerId: string, totalSteps: number | null): Promise<boolean> {
    const [count, queued] = await this.#prisma.$transaction([
      this.#prisma.$executeRaw`
        UPDATE jobs SET status = 'processing', started_at = ${at},
               attempts = GREATEST(attempts, ${run.attempt}), last_run = ${run.id},
               worker_id = ${workerId}, progress = 0, step = 0, total_steps = ${totalSteps}, error = NULL, updated_at = ${new Date()}
        WHERE id = ${id} AND status IN ('queued', 'processing')`,
      this.#prisma.$executeRaw(outboxInsert(id, 'start', 'processing', `start_${run.id}`, new Date()))
    ])
    if (queued > 0) this.onWebhookQueued()
    return count === 1
  }

  /**
   * Counts runs of a job whichever its status, by the same rule as markStarted: a run that began
   * after the job's end was recorded (its queue entry outlived the worker that ran it), or the runs a
   * worker's refusal (MAX_ATTEMPTS) reports. The row does not move.
   */
  async countRuns (id: string, runs: number): Promise<void> {
    await this.#prisma.$executeRaw`UPDATE jobs SET attempts = GREATEST(attempts, ${runs}) WHERE id = ${id}`
  }

  async saveProgress (id: string, progress: number, step: number | null, totalSteps: number | null): Promise<void> {
    const [, queued] = await this.#prisma.$transaction([
      this.#prisma.job.updateMany({
        where: { id, status: 'processing' },
        data: { progress, step, totalSteps }
      }),
      // one webhook per run and percentage: a replay of the same progress adds nothing
      this.#prisma.$executeRaw(outboxInsert(id, 'progress', 'processing', PrismaNs.sql`CONCAT('progress_', attempts, '_', ${progress})`, new Date()))
    ])
    if (queued > 0) this.onWebhookQueued()
  }

  /** Records the outputs and moves a live job to finished, in one transaction. */
  async finish (id: string, at: Date, outputs: NewOutput[], step: number | null): Promise<boolean> {
    let queued = 0
    const moved = await this.#prisma.$transaction(async tx => {
      const { count } = await tx.job.updateMany({
        where: { id, status: LIVE },
        data: { status: 'finished', progress: 100, finishedAt: at, error: null, ...(step ? { step } : {}) }
      })
      if (count === 1 && outputs.length > 0) {
        await tx.output.createMany({ data: outputs.map(o => ({ jobId: id, ...o })), skipDuplicates: true })
      }
      if (count === 1) {
        // output before completed: the outbox delivers a job's events in the order they were added
        const now = new Date()
        queued = (outputs.length > 0 ? await tx.$executeRaw(outboxInsert(id, 'output', 'finished', 'output', now)) : 0) +
          await tx.$executeRaw(outboxInsert(id, 'completed', 'finished', 'completed', now))
      }
      return count === 1
    })
    if (queued > 0) this.onWebhookQueued()
    return moved
  }

  /**
   * Where the job's terminal event landed in its event history. A plain UPDATE: it records where the
   * end is, it does not change the job (updated_at stays).
   */
  async recordEnd (id: string, at: EventPosition): Promise<void> {
    await this.#prisma.$executeRaw`UPDATE jobs SET end_event_id = ${formatEventId(at)} WHERE id = ${id}`
  }

  /** Where the job's terminal event landed, as recorded by recordEnd(); null when nothing was recorded. */
  async endOf (id: string): Promise<EventPosition | null> {
    const row = await this.#prisma.job.findUnique({ where: { id }, select: { endEventId: true } })
    return row?.endEventId ? parseEventId(row.endEventId) : null
  }

  /** Moves a live job to failed or cancelled; `last` is its latest progress, which the row may lag behind. */
  async end (id: string, status: 'failed' | 'cancelled', at: Date, error: string, last?: LastProgress): Promise<boolean> {
    let queued = 0
    const moved = await this.#prisma.$transaction(async tx => {
      const { count } = await tx.job.updateMany({
        where: { id, status: LIVE },
        data: { status, finishedAt: at, error, ...(last !== undefined ? { progress: last.progress, step: last.step } : {}) }
      })
      if (count === 1) queued = await tx.$executeRaw(outboxInsert(id, 'completed', status, 'completed', new Date()))
      return count === 1
    })
    if (queued > 0) this.onWebhookQueued()
    return moved
  }

  /** The progress an ended job had reached (the status hash's, once it stopped moving). */
  async keepLastProgress (id: string, status: 'failed' | 'cancelled', last: LastProgress): Promise<void> {
    await this.#prisma.job.updateMany({ where: { id, status }, data: { progress: last.progress, step: last.step } })
  }
}
