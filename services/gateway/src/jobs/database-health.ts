import type { PoolObserver } from '@comfy-jobs/db'
import { DeadlineExceededError, withDeadline } from '../deadline.ts'

/** Why a database operation failed: the database is away, too busy to serve it in time, or it refused the operation. */
export type FailureCause = 'down' | 'busy' | 'refused'

/** mariadb driver codes of a lost or unopenable connection (its fatal errors also carry SQLSTATE 08S01) */
const CONNECTION_CODES = new Set([45001, 45009, 45012, 45061])
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'])
/** the pool had no connection free within its acquire timeout */
const POOL_TIMEOUT = 45028

interface DriverCause { code?: number, state?: string }

/** The driver's verdict on an error, wherever Prisma put it (a raw query or a transaction call). */
function driverCause (err: unknown): DriverCause | null {
  const e = err as { meta?: { driverAdapterError?: { cause?: DriverCause } }, errno?: number, sqlState?: string }
  if (e?.meta?.driverAdapterError?.cause) return e.meta.driverAdapterError.cause
  if (typeof e?.errno === 'number') return { code: e.errno, state: e.sqlState ?? undefined }
  return null
}

export function isConnectionError (err: unknown): boolean {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true
    const cause = driverCause(e)
    if (cause && ((cause.state ?? '').startsWith('08') || CONNECTION_CODES.has(cause.code ?? 0))) return true
  }
  return false
}

/** No connection (or no transaction) in time: the pool was exhausted, or could not open connections. */
export function isWaitTimeout (err: unknown): boolean {
  const e = err as { code?: string, message?: string }
  return e?.code === 'P2028' || driverCause(err)?.code === POOL_TIMEOUT || err instanceof DeadlineExceededError ||
    /Unable to start a transaction|Transaction already closed/i.test(e?.message ?? '')
}

export interface DatabaseHealthDeps {
  observer: PoolObserver
  /** a trivial query on a connection of its own (not the pool that may be exhausted) */
  probe: () => Promise<unknown>
  probeTimeoutMs: number
}

/**
 * Tells a database that is away from one that is merely busy, from the pool's evidence first:
 * - a connection failed while the operation waited: down;
 * - no connection in time while the pool had room: it could not open one: down;
 * - no connection in time while every connection was checked out: busy if one came back from work
 *   meanwhile; if none did, the database either hangs or is slow on something, which only asking it
 *   can tell.
 * The question is one probe on a connection of its own, shared by every caller at that moment (a
 * probe per failed request would itself queue up under load). Other errors are asked about the same way.
 */
export class DatabaseHealth {
  readonly #d: DatabaseHealthDeps
  #probe: Promise<boolean> | null = null

  constructor (deps: DatabaseHealthDeps) {
    this.#d = deps
  }

  /** Why an operation that began at `since` (ms) failed with `err`. */
  async explain (err: unknown, since: number): Promise<FailureCause> {
    const pool = this.#d.observer
    if (isConnectionError(err)) {
      pool.noteFailure()
      return 'down'
    }
    if (pool.failedSince(since)) return 'down'
    if (isWaitTimeout(err)) {
      if (!pool.exhaustedSince(since)) return 'down'
      if (pool.releasedSince(since)) return 'busy'
      return (await this.reachable()) ? 'busy' : 'down'
    }
    return (await this.reachable()) ? 'refused' : 'down'
  }

  /** Whether the database answers a trivial query now; concurrent callers share one probe. */
  reachable (): Promise<boolean> {
    this.#probe ??= withDeadline(this.#d.probe(), this.#d.probeTimeoutMs, 'database probe')
      .then(() => true, () => false)
      .finally(() => { this.#probe = null })
    return this.#probe
  }
}
