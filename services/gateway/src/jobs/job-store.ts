import type { Prisma, PrismaClient, Job, Output } from '@comfy-jobs/db'
import type { QueuedJob } from '@comfy-jobs/contracts'

export type JobWithOutputs = Job & { outputs: Output[] }
export type Tx = Prisma.TransactionClient

export interface NewOutput {
  index: number
  filename: string
  mime: string
  width: number
  height: number
  bytes: number
  sha256: string
}

const LIVE = { in: ['queued', 'processing'] as Array<'queued' | 'processing'> }

/** Every Prisma operation on jobs and their outputs. Transitions only move a live job forward. */
export class JobStore {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  async insert (tx: Tx, job: QueuedJob, createdAt: Date, idempotency?: { key: string, requestHash: string }): Promise<void> {
    // createMany of one row is a bare INSERT; on MySQL `create` adds a SELECT to read the row back.
    // A duplicate id or idempotency key still fails with P2002.
    await tx.job.createMany({
      data: {
        id: job.job_id,
        idempotencyKey: idempotency?.key,
        requestHash: idempotency?.requestHash,
        workflow: job.workflow,
        model: job.model,
        prompt: job.prompt,
        params: job.params as unknown as Prisma.InputJsonValue,
        createdAt,
        updatedAt: createdAt
      }
    })
  }

  find (id: string): Promise<JobWithOutputs | null> {
    return this.#prisma.job.findUnique({ where: { id }, include: { outputs: { orderBy: { index: 'asc' } } } })
  }

  findByIdempotencyKey (key: string): Promise<{ id: string, requestHash: string | null } | null> {
    return this.#prisma.job.findUnique({ where: { idempotencyKey: key }, select: { id: true, requestHash: true } })
  }

  /** Live jobs not updated since `before`, oldest first: candidates for the sweeper. */
  findStale (before: Date, limit: number): Promise<Job[]> {
    return this.#prisma.job.findMany({ where: { status: LIVE, updatedAt: { lt: before } }, orderBy: { createdAt: 'asc' }, take: limit })
  }

  /** The subset of ids that have a row. */
  async existing (ids: string[]): Promise<Set<string>> {
    const rows = await this.#prisma.job.findMany({ where: { id: { in: ids } }, select: { id: true } })
    return new Set(rows.map(r => r.id))
  }

  /** A live job goes back to queued (its queue entry was lost); false if it is no longer live. */
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
  async list (opts: { limit: number, offset: number, before?: string }): Promise<{ total: number, jobs: JobWithOutputs[] } | null> {
    let where: Prisma.JobWhereInput = {}
    if (opts.before !== undefined) {
      const anchor = await this.#prisma.job.findUnique({ where: { id: opts.before }, select: { createdAt: true } })
      if (!anchor) return null
      where = { OR: [{ createdAt: { lt: anchor.createdAt } }, { createdAt: anchor.createdAt, id: { lt: opts.before } }] }
    }
    const [total, jobs] = await Promise.all([
      this.#prisma.job.count(),
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


  /** queued|processing → processing. Returns whether the row is live (false: terminal or missing). */
  async markStarted (id: string, at: Date, attempt: number, workerId: string, totalSteps: number | null): Promise<boolean> {
    const { count } = await this.#prisma.job.updateMany({
      where: { id, status: LIVE },
      data: { status: 'processing', startedAt: at, attempts: attempt, workerId, progress: 0, step: 0, totalSteps, error: null }
    })
    return count === 1
  }

  async saveProgress (id: string, progress: number, step: number | null, totalSteps: number | null): Promise<void> {
    await this.#prisma.job.updateMany({
      where: { id, status: 'processing' },
      data: { progress, step, totalSteps }
    })
  }

  /** Records the outputs and moves a live job to finished, in one transaction. */
  async finish (id: string, at: Date, outputs: NewOutput[], step: number | null): Promise<boolean> {
    return this.#prisma.$transaction(async tx => {
      const { count } = await tx.job.updateMany({
        where: { id, status: LIVE },
        data: { status: 'finished', progress: 100, finishedAt: at, error: null, ...(step ? { step } : {}) }
      })
      if (count === 1 && outputs.length > 0) {
        await tx.output.createMany({ data: outputs.map(o => ({ jobId: id, ...o })), skipDuplicates: true })
      }
      return count === 1
    })
  }

  async end (id: string, status: 'failed' | 'cancelled', at: Date, error: string): Promise<boolean> {
    const { count } = await this.#prisma.job.updateMany({
      where: { id, status: LIVE },
      data: { status, finishedAt: at, error }
    })
    return count === 1
  }
}
