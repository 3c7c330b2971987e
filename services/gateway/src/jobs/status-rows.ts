import type { JobStatus, OutputKind } from '@comfy-jobs/contracts'
import type { JobWithOutputs } from './job-store.ts'
import { ReadBatcher } from './read-batcher.ts'

/** What a status answer needs from a job's row and its outputs (a JobWithOutputs is one). */
export type StatusRow = Pick<JobWithOutputs, 'id' | 'owner' | 'status' | 'workflow' | 'model' | 'progress' | 'step' | 'totalSteps' | 'error' | 'createdAt' | 'startedAt' | 'finishedAt' | 'updatedAt'> & {
  outputs: Array<Pick<JobWithOutputs['outputs'][number], 'index' | 'filename' | 'kind' | 'mime' | 'width' | 'height' | 'bytes' | 'durationMs' | 'frames'>>
}

interface JoinedRow {
  id: string
  owner: string
  status: JobStatus
  workflow: string
  model: string
  progress: number
  step: bigint | number | null
  total_steps: bigint | number | null
  error: string | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  updated_at: Date
  idx: number | null
  filename: string | null
  kind: OutputKind | null
  mime: string | null
  width: bigint | number | null
  height: bigint | number | null
  bytes: bigint | number | null
  duration_ms: bigint | number | null
  frames: bigint | number | null
}

/** At most this many ids in one query. */
const MAX_BATCH = 100
/** Queries out at once; finds asked meanwhile wait for one to end and go together (see ReadBatcher). */
const QUERIES_IN_FLIGHT = 2
/** A query out longer than this no longer holds back the next (its callers are bounded by the pool's timeouts). */
const QUERY_STALL_MS = 500

/**
 * Runs one statement with its values and answers its rows: a mysql2 promise pool's `execute` (a
 * prepared statement per batch size, on each connection) whose DATETIMEs are read as UTC.
 */
export interface RowsQuery {
  execute: (sql: string, values: string[]) => Promise<[unknown, unknown]>
}

const SELECT = `SELECT j.id, j.owner, j.status, j.workflow, j.model, j.progress, j.step, j.total_steps, j.error,
       j.created_at, j.started_at, j.finished_at, j.updated_at,
       o.idx, o.filename, o.kind, o.mime, o.width, o.height, o.bytes, o.duration_ms, o.frames
FROM jobs j LEFT JOIN outputs o ON o.job_id = j.id
WHERE j.id IN `

/** `(?, ?, …)` for n values, made once per size. */
const placeholders: string[] = []
function inList (n: number): string {
  return (placeholders[n] ??= `(${Array(n).fill('?').join(', ')})`)
}

const orNull = (n: bigint | number | null): number | null => n === null ? null : Number(n)

/**
 * Status reads from the database. The finds are batched (ReadBatcher) and each batch is answered by
 * one query — jobs LEFT JOIN outputs, WHERE id IN (…) — on a plain mysql2 pool, not through Prisma:
 * its query engine, adapter and driver were a fifth of the database path's CPU, for a read that needs
 * none of what they do. The columns are named here: a schema change this query misses
 * fails test/status-reads.test.ts, which compares every kind of row with findUnique + include.
 */
export class StatusRows {
  readonly #db: RowsQuery
  readonly #finds: ReadBatcher<StatusRow | null>

  constructor (db: RowsQuery) {
    this.#db = db
    this.#finds = new ReadBatcher(ids => this.#findMany(ids), { maxBatch: MAX_BATCH, maxInFlight: QUERIES_IN_FLIGHT, stallMs: QUERY_STALL_MS })
  }

  find (id: string): Promise<StatusRow | null> {
    return this.#finds.read(id)
  }

  async #findMany (ids: string[]): Promise<Array<StatusRow | null>> {
    const found = await this.#query([...new Set(ids.map(id => id.toLowerCase()))])
    // ids are matched as the database matches them (case-insensitive collation), as findUnique did
    return ids.map(id => found.get(id.toLowerCase()) ?? null)
  }

  async #query (ids: string[]): Promise<Map<string, StatusRow>> {
    const [result] = await this.#db.execute(SELECT + inList(ids.length), ids)
    const rows = result as JoinedRow[]
    const byId = new Map<string, StatusRow>()
    for (const r of rows) {
      const key = r.id.toLowerCase()
      let job = byId.get(key)
      if (!job) {
        job = {
          id: r.id,
          owner: r.owner,
          status: r.status,
          workflow: r.workflow,
          model: r.model,
          progress: Number(r.progress),
          step: orNull(r.step),
          totalSteps: orNull(r.total_steps),
          error: r.error,
          createdAt: r.created_at,
          startedAt: r.started_at,
          finishedAt: r.finished_at,
          updatedAt: r.updated_at,
          outputs: []
        }
        byId.set(key, job)
      }
      if (r.idx !== null) {
        job.outputs.push({
          index: Number(r.idx),
          filename: r.filename!,
          kind: r.kind!,
          mime: r.mime!,
          width: Number(r.width),
          height: Number(r.height),
          bytes: Number(r.bytes),
          durationMs: orNull(r.duration_ms),
          frames: orNull(r.frames)
        })
      }
    }
    for (const job of byId.values()) if (job.outputs.length > 1) job.outputs.sort((a, b) => a.index - b.index)
    return byId
  }
}
