import type { FastifyBaseLogger as Logger } from 'fastify'
import { AppError } from '../app-error.ts'

/** How old an owner's count a submit may be judged by: a count per submit would add a query to each. */
const READING_MAX_AGE_MS = 500
/** An owner's state is forgotten once nothing of theirs is in flight and its reading is this old. */
const IDLE_FORGET_MS = 60_000
export const LIVE_JOBS_RETRY_AFTER_S = 5

export interface LiveJobLimitOptions {
  /** the owner's queued + processing jobs, from the database (the (owner, status) index) */
  count: (owner: string) => Promise<number>
  /** 0: no limit */
  max: number
  logger: Logger
}

interface OwnerState {
  /** the count the database gave, and when it was asked */
  live: number
  at: number
  /** committed submits: all, and as many as had been when the reading was asked */
  committed: number
  committedAtReading: number
  /** admitted submits not yet settled */
  inFlight: number
  reading: Promise<void> | null
}

/** What an admitted submit reports when it is settled: whether its job now exists (or may). */
export type LiveJobRelease = (created: boolean) => void

const NOTHING: LiveJobRelease = () => {}

/**
 * MAX_LIVE_JOBS_PER_OWNER: a submit is refused (429 TOO_MANY_LIVE_JOBS with Retry-After) while its
 * owner has that many queued or processing jobs. The database's count (an index range) is asked at
 * most once per READING_MAX_AGE_MS per owner, shared by that owner's concurrent submits; to it are
 * added this gateway's submits in flight and those committed since the count was asked (a job
 * committed while the count ran is counted twice until the next reading: refusing early, never
 * late). A job that ends frees its slot at the next reading. Across gateways each judges by its own
 * submits, so a burst spread over G gateways can pass the limit by what the others admitted within
 * one reading's age. When the count cannot be read (database away) the submit goes on and meets
 * the database at its insert, as it always did.
 */
export class LiveJobLimit {
  readonly #o: LiveJobLimitOptions
  readonly #owners = new Map<string, OwnerState>()
  #lastPrune = Date.now()

  constructor (options: LiveJobLimitOptions) {
    this.#o = options
  }

  get max (): number {
    return this.#o.max
  }

  /** Admits one submit of `owner` or throws TOO_MANY_LIVE_JOBS; the caller must call the release once settled. */
  async admit (owner: string): Promise<LiveJobRelease> {
    const max = this.#o.max
    if (max === 0) return NOTHING
    this.#prune()
    let state = this.#owners.get(owner)
    if (state === undefined) {
      state = { live: 0, at: 0, committed: 0, committedAtReading: 0, inFlight: 0, reading: null }
      this.#owners.set(owner, state)
    }
    try {
      await this.#fresh(owner, state)
    } catch (err) {
      this.#o.logger.warn({ owner, err: (err as Error).message }, 'live jobs of an owner could not be counted; submit goes on')
      return NOTHING
    }
    const live = state.live + (state.committed - state.committedAtReading) + state.inFlight
    if (live >= max) {
      this.#o.logger.warn({ owner, live, max_live_jobs_per_owner: max }, 'owner has too many live jobs; submit refused')
      throw new AppError('TOO_MANY_LIVE_JOBS', {
        headers: { 'retry-after': String(LIVE_JOBS_RETRY_AFTER_S) },
        details: `this owner has ${live} queued or processing jobs; MAX_LIVE_JOBS_PER_OWNER is ${max}`
      })
    }
    state.inFlight++
    const s = state
    let settled = false
    return created => {
      if (settled) return
      settled = true
      s.inFlight--
      if (created) s.committed++
    }
  }

  #fresh (owner: string, state: OwnerState): Promise<void> {
    if (Date.now() - state.at < READING_MAX_AGE_MS) return Promise.resolve()
    state.reading ??= (async () => {
      const committedBefore = state.committed
      const asked = Date.now()
      try {
        state.live = await this.#o.count(owner)
        state.committedAtReading = committedBefore
        state.at = asked
      } finally {
        state.reading = null
      }
    })()
    return state.reading
  }

  #prune (): void {
    const now = Date.now()
    if (now - this.#lastPrune < IDLE_FORGET_MS) return
    this.#lastPrune = now
    for (const [owner, state] of this.#owners) {
      if (state.inFlight === 0 && state.reading === null && now - state.at > IDLE_FORGET_MS) this.#owners.delete(owner)
    }
  }
}
