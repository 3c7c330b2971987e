import type { FastifyBaseLogger as Logger } from 'fastify'
import { AppError } from '../app-error.ts'
import type { QueueDepth } from './job-queue.ts'

/** How old a depth reading a submit may be judged by: a read per submit would add a Redis round trip to each. */
const READING_MAX_AGE_MS = 500
export const QUEUE_FULL_RETRY_AFTER_S = 5

export interface QueueAdmissionOptions {
  depth: () => Promise<QueueDepth>
  /** 0: no limit */
  maxDepth: number
  logger: Logger
}

/** Jobs waiting to run (not running ones): what MAX_QUEUE_DEPTH bounds. */
export function waitingOf (depth: QueueDepth): number {
  return depth.waiting + depth.prioritized + depth.delayed
}

/**
 * MAX_QUEUE_DEPTH: a submit is refused (503 QUEUE_FULL with Retry-After) while that many jobs wait.
 * Judged by a reading at most READING_MAX_AGE_MS old plus the submits admitted since, so a burst
 * does not overshoot by much; readings are shared by concurrent submits. When the depth cannot be
 * read (Redis away) the submit goes on and fails at its push, as it always did.
 */
export class QueueAdmission {
  readonly #o: QueueAdmissionOptions
  #reading: { waiting: number, at: number } | null = null
  #admittedSince = 0
  #inFlight: Promise<number> | null = null

  constructor (options: QueueAdmissionOptions) {
    this.#o = options
  }

  get maxDepth (): number {
    return this.#o.maxDepth
  }

  async admit (): Promise<void> {
    const max = this.#o.maxDepth
    if (max === 0) return
    let waiting: number
    try {
      waiting = await this.#waiting()
    } catch {
      return
    }
    if (waiting + this.#admittedSince >= max) {
      this.#o.logger.warn({ waiting, max_queue_depth: max }, 'queue full; submit refused')
      throw new AppError('QUEUE_FULL', {
        headers: { 'retry-after': String(QUEUE_FULL_RETRY_AFTER_S) },
        details: `${waiting} jobs are waiting; MAX_QUEUE_DEPTH is ${max}`
      })
    }
    this.#admittedSince++
  }

  /** A fresh reading, for readiness. */
  async now (): Promise<number> {
    return waitingOf(await this.#o.depth())
  }

  #waiting (): Promise<number> {
    const reading = this.#reading
    if (reading !== null && Date.now() - reading.at < READING_MAX_AGE_MS) return Promise.resolve(reading.waiting)
    this.#inFlight ??= this.#o.depth().then(depth => {
      this.#reading = { waiting: waitingOf(depth), at: Date.now() }
      this.#admittedSince = 0
      return this.#reading.waiting
    }).finally(() => { this.#inFlight = null })
    return this.#inFlight
  }
}
