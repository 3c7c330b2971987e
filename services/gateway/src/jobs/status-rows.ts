import { Prisma, type PrismaClient } from '@comfy-jobs/db'
import type { JobStatus } from '@comfy-jobs/contracts'
import type { JobWithOutputs } from './job-store.ts'

/** What a status answer needs from a job's row and its outputs (a JobWithOutputs is one). */
export type StatusRow = Pick<JobWithOutputs, 'id' | 'status' | 'progress' | 'step' | 'totalSteps' | 'error' | 'params' | 'createdAt' | 'startedAt' | 'finishedAt' | 'updatedAt'> & {
  outputs: Array<Pick<JobWithOutputs['outputs'][number], 'index' | 'mime' | 'width' | 'height' | 'bytes'>>
}

interface JoinedRow {
  id: string
  status: JobStatus
  progress: number
  step: bigint | number | null
  total_steps: bigint | number | null
  error: string | null
  params: JobWithOutputs['params']
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  updated_at: Date
  idx: number | null
  mime: string | null
  width: bigint | number | null
  height: bigint | number | null
  bytes: bigint | number | null
}

interface PendingFind {
  id: string
  resolve: (row: StatusRow | null) => void
  reject: (err: unknown) => void
}

/** At most this many ids in one query. */
const MAX_BATCH = 100

const orNull = (n: bigint | number | null): number | null => n === null ? null : Number(n)

/**
 * Status reads from the database. The finds asked for in one turn of the event loop are answered by
 * one query through Prisma — jobs LEFT JOIN outputs, WHERE id IN (…) — instead of Prisma's
 * findUnique + include (a query for the jobs and another for their outputs, with Prisma's
 * per-call overhead on each find). The columns are named here: a schema change this query misses
 * fails test/status-reads.test.ts, which compares every kind of row with findUnique + include.
 */
export class StatusRows {
  readonly #prisma: PrismaClient
  #pending: PendingFind[] = []

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  find (id: string): Promise<StatusRow | null> {
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ id, resolve, reject }) === 1) setImmediate(() => this.#flush())
    })
  }

  #flush (): void {
    const all = this.#pending
    this.#pending = []
    for (let i = 0; i < all.length; i += MAX_BATCH) void this.#findBatch(all.slice(i, i + MAX_BATCH))
  }

  async #findBatch (batch: PendingFind[]): Promise<void> {
    let found: Map<string, StatusRow>
    try {
      found = await this.#query([...new Set(batch.map(p => p.id.toLowerCase()))])
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    // ids are matched as the database matches them (case-insensitive collation), as findUnique did
    for (const p of batch) p.resolve(found.get(p.id.toLowerCase()) ?? null)
  }

  async #query (ids: string[]): Promise<Map<string, StatusRow>> {
    const rows = await this.#prisma.$queryRaw<JoinedRow[]>`
      SELECT j.id, j.status, j.progress, j.step, j.total_steps, j.error, j.params,
             j.created_at, j.started_at, j.finished_at, j.updated_at,
             o.idx, o.mime, o.width, o.height, o.bytes
      FROM jobs j LEFT JOIN outputs o ON o.job_id = j.id
      WHERE j.id IN (${Prisma.join(ids)})`
    const byId = new Map<string, StatusRow>()
    for (const r of rows) {
      const key = r.id.toLowerCase()
      let job = byId.get(key)
      if (!job) {
        job = {
          id: r.id,
          status: r.status,
          progress: Number(r.progress),
          step: orNull(r.step),
          totalSteps: orNull(r.total_steps),
          error: r.error,
          params: r.params,
          createdAt: r.created_at,
          startedAt: r.started_at,
          finishedAt: r.finished_at,
          updatedAt: r.updated_at,
          outputs: []
        }
        byId.set(key, job)
      }
      if (r.idx !== null) {
        job.outputs.push({ index: Number(r.idx), mime: r.mime!, width: Number(r.width), height: Number(r.height), bytes: Number(r.bytes) })
      }
    }
    for (const job of byId.values()) if (job.outputs.length > 1) job.outputs.sort((a, b) => a.index - b.index)
    return byId
  }
}
