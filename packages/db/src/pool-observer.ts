import { AsyncLocalStorage } from 'node:async_hooks'
import type { EventEmitter } from 'node:events'
import type { Pool, PoolConnection } from 'mariadb'

/** The pool connection a piece of work took: its server thread, and a way to end it from outside. */
export interface TrackedSession {
  connection: Pick<PoolConnection, 'threadId' | 'destroy'> | null
}

/**
 * Watches the driver pool under a Prisma client: when a connection last failed (could not be opened,
 * or died), when one last came back from work, when every connection was last checked out, and which
 * connection a piece of work took.
 * The first two tell "database down" from "pool busy" by evidence, instead of a probe that itself
 * waits in line or finds the database back between two flaps of its link; the third lets a submit
 * whose COMMIT got no answer end its own session and ask the server what became of it.
 */
export class PoolObserver {
  readonly #sessions = new AsyncLocalStorage<TrackedSession>()
  #lastFailure = 0
  #lastRelease = 0
  /** since when every connection has been checked out (null: not now) */
  #exhaustedFrom: number | null = null
  #lastExhaustedUntil = 0
  #pool: Pool | null = null
  #limit = 0

  /** Called by createPrismaClient with the pool it made and its size; returns the pool Prisma should use. */
  attach (pool: Pool, limit: number): Pool {
    this.#pool = pool
    this.#limit = limit
    const events = pool as unknown as EventEmitter
    events.on('acquire', () => {
      if (this.#exhaustedFrom === null && pool.activeConnections() >= limit) this.#exhaustedFrom = Date.now()
    })
    // 'release' only for a connection still valid after its work: the database answered it
    events.on('release', () => {
      this.#lastRelease = Date.now()
      this.#checkExhaustion()
    })
    events.on('connection', (conn: EventEmitter) => {
      conn.on('error', () => {
        this.#lastFailure = Date.now()
        this.#checkExhaustion()
      })
    })
    // a connection the pool could not open (it reports only after its own retries)
    events.on('error', () => { this.#lastFailure = Date.now() })
    const sessions = this.#sessions
    return new Proxy(pool, {
      get (target, prop) {
        if (prop === 'getConnection') {
          return async () => {
            const conn = await target.getConnection()
            const session = sessions.getStore()
            if (session) session.connection = conn
            return conn
          }
        }
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      }
    })
  }

  #checkExhaustion (): void {
    if (this.#exhaustedFrom !== null && (this.#pool?.activeConnections() ?? 0) < this.#limit) {
      this.#exhaustedFrom = null
      this.#lastExhaustedUntil = Date.now()
    }
  }

  /** Runs fn; the connection a transaction in it takes is recorded in `session`. */
  track<T> (session: TrackedSession, fn: () => Promise<T>): Promise<T> {
    return this.#sessions.run(session, fn)
  }

  /** A caller saw a connection fail (e.g. a socket closed under its query). */
  noteFailure (): void {
    this.#lastFailure = Date.now()
  }

  /** A connection could not be opened, or died, at or after `since` (ms). */
  failedSince (since: number): boolean {
    return this.#lastFailure >= since
  }

  /** A connection came back from work done at or after `since` (ms): the database answers. */
  releasedSince (since: number): boolean {
    return this.#lastRelease >= since
  }

  /** Every connection of the pool was checked out at some moment at or after `since` (ms). */
  exhaustedSince (since: number): boolean {
    this.#checkExhaustion()
    return this.#exhaustedFrom !== null || this.#lastExhaustedUntil >= since
  }
}
