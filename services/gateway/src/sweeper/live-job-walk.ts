import type { Job } from '@comfy-jobs/db'
import { LIVE_STATUSES, type JobStore, type PageCursor } from '../jobs/job-store.ts'

/**
 * Walks every live job (queued, then processing) in keyset pages of (created_at, id), at most
 * `pagesPerPass` pages per pass, cycle after cycle: the cost of a pass is bounded however many jobs
 * are live, and no job is left out, however far down the list.
 */
export class LiveJobWalk {
  readonly #store: JobStore
  readonly #pageSize: number
  readonly #pagesPerPass: number
  #phase = 0
  #after: PageCursor | null = null
  #cycleStartedAt: number | null = null
  #lastCycle: { startedAt: number, endedAt: number } | null = null
  #firstPassAt: number | null = null

  constructor (store: JobStore, pageSize: number, pagesPerPass: number) {
    this.#store = store
    this.#pageSize = pageSize
    this.#pagesPerPass = pagesPerPass
  }

  /**
   * The next pages of the current cycle. The cursor moves past a page only once its consumer is done
   * with it (a pass that fails resumes at the same page); a cycle that completes ends the pass.
   */
  async * pass (): AsyncGenerator<Job[]> {
    const now = Date.now()
    this.#firstPassAt ??= now
    this.#cycleStartedAt ??= now
    for (let n = 0; n < this.#pagesPerPass; n++) {
      const page = await this.#store.livePage(LIVE_STATUSES[this.#phase], this.#after, this.#pageSize)
      yield page
      if (page.length === this.#pageSize) {
        const last = page[page.length - 1]
        this.#after = { createdAt: last.createdAt, id: last.id }
        continue
      }
      this.#after = null
      if (++this.#phase < LIVE_STATUSES.length) continue
      this.#phase = 0
      this.#lastCycle = { startedAt: this.#cycleStartedAt, endedAt: Date.now() }
      this.#cycleStartedAt = null
      return
    }
  }

  /** Seconds the last complete cycle took; null before the first one completes. */
  get cycleSeconds (): number | null {
    return this.#lastCycle ? (this.#lastCycle.endedAt - this.#lastCycle.startedAt) / 1000 : null
  }

  /**
   * How far behind the walk is: every live job was checked within this many seconds, or is younger
   * (the start of the last complete cycle; before one completes, of the first pass). Null before any pass.
   */
  behindSeconds (now = Date.now()): number | null {
    const since = this.#lastCycle?.startedAt ?? this.#firstPassAt
    return since === null ? null : (now - since) / 1000
  }
}
