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

  async insert (tx: Tx, job: QueuedJob, createdAt: Date): Promise<void> {
    await tx.job.create({
      data: {
        id: job.job_id,
        workflow: job.workflow,
        model: job.model,
        prompt: job.prompt,
        params: job.params as unknown as Prisma.InputJsonValue,
        createdAt,
        updatedAt: createdAt
      },
      select: { id: true }
    })
  }

  find (id: string): Promise<JobWithOutputs | null> {
    return this.#prisma.job.findUnique({ where: { id }, include: { outputs: { orderBy: { index: 'asc' } } } })
  }

  /**
   * A page of jobs, newest first (v7 ids break ties in creation order), each with its first output
   * only, and how many jobs there are in all.
   */
  async page (limit: number, offset: number): Promise<{ total: number, jobs: JobWithOutputs[] }> {
    const [total, jobs] = await Promise.all([
      this.#prisma.job.count(),
      this.#prisma.job.findMany({
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        skip: offset,
        take: limit,
        include: { outputs: { orderBy: { index: 'asc' }, take: 1 } }
      })
    ])
    return { total, jobs }
  }

  async exists (id: string): Promise<boolean> {
    return (await this.#prisma.job.count({ where: { id } })) > 0
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
