import { setTimeout as sleep } from 'node:timers/promises'
import type { PrismaClient, TrackedSession } from '@comfy-jobs/db'
import { withDeadline } from '../deadline.ts'

/** What became of a transaction whose COMMIT got no answer. */
export type Outcome = 'committed' | 'absent' | 'unknown'

/** MariaDB ER_LOCK_WAIT_TIMEOUT (its NOWAIT answer), MySQL ER_LOCK_NOWAIT */
const LOCK_BUSY = new Set([1205, 3572])
const RETRY_MS = 100

function isLockBusy (err: unknown): boolean {
  const cause = (err as { meta?: { driverAdapterError?: { cause?: { code?: number } } } })?.meta?.driverAdapterError?.cause
  return LOCK_BUSY.has(cause?.code ?? 0)
}

/**
 * Finds out whether a job's row committed, asking the server itself. A plain read cannot tell: while
 * the session that inserted the row is alive (its link died, the server has not noticed), the row is
 * uncommitted and invisible, and may still commit. A locking read with NOWAIT fails while that
 * session holds the row, and is final once it is gone: the row is there (committed) or not (rolled
 * back). A session that outlives its client is ended with KILL (it is ours: it holds our job's row),
 * which makes the outcome final at once.
 */
export class CommitOutcome {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  /** Asks until the answer is final or `timeoutMs` has passed (then `unknown`). */
  async resolve (jobId: string, session: TrackedSession, timeoutMs: number): Promise<Outcome> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = deadline - Date.now()
      const outcome = left > 0 ? await this.once(jobId, session, left) : 'unknown'
      if (outcome !== 'unknown' || Date.now() + RETRY_MS >= deadline) return outcome
      await sleep(RETRY_MS)
    }
  }

  /** One question, bounded by `timeoutMs`. */
  async once (jobId: string, session: TrackedSession | null, timeoutMs: number): Promise<Outcome> {
    try {
      const rows = await withDeadline(this.#prisma.$queryRaw<Array<{ id: string }>>`SELECT id FROM jobs WHERE id = ${jobId} FOR UPDATE NOWAIT`, timeoutMs, 'commit outcome lookup')
      return rows.length === 1 ? 'committed' : 'absent'
    } catch (err) {
      const threadId = session?.connection?.threadId
      if (isLockBusy(err) && typeof threadId === 'number') {
        await withDeadline(this.#prisma.$executeRawUnsafe(`KILL CONNECTION ${Math.trunc(threadId)}`), timeoutMs, 'ending the orphaned session').catch(() => {})
      }
      return 'unknown'
    }
  }
}
