import type { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import type { QueuedJob } from '@comfy-jobs/contracts'
import type { StatusCache } from './status-cache.ts'
import { withDeadline } from '../deadline.ts'

export class QueuePushError extends Error {
  constructor (message: string, cause?: unknown) {
    super(message, { cause })
    this.name = 'QueuePushError'
  }
}

export const JOB_NAME = 'generate'

export type QueueEntryState =
  | { kind: 'missing' }
  | { kind: 'present' }
  | { kind: 'completed' }
  | { kind: 'failed', failedReason: string }

export interface QueueDepth {
  waiting: number
  prioritized: number
  delayed: number
  active: number
}

/** The producer side of the BullMQ queue, plus the status hash that is born with each entry. */
export class JobQueue {
  readonly #queue: Queue
  readonly #redis: Redis
  readonly #cache: StatusCache
  readonly #timeoutMs: number
  #lastConnectionError = ''

  constructor (queue: Queue, redis: Redis, cache: StatusCache, timeoutMs: number) {
    this.#queue = queue
    this.#redis = redis
    this.#cache = cache
    this.#timeoutMs = timeoutMs
    redis.on('error', (err: Error) => { this.#lastConnectionError = err.message })
    redis.on('ready', () => { this.#lastConnectionError = '' })
  }

  get queue (): Queue {
    return this.#queue
  }

  /**
   * Adds the job (BullMQ jobId = job id, so a repeat is a no-op) and initialises its status hash; both
   * are written to the socket together. Fails within the push timeout, never waits for a reconnect.
   */
  async push (job: QueuedJob, createdAt: Date): Promise<void> {
    if (this.#redis.status !== 'ready') {
      const cause = new Error(this.#lastConnectionError || `Redis connection is ${this.#redis.status}`)
      throw new QueuePushError(`Redis push failed: connection is ${this.#redis.status}`, cause)
    }
    const add = this.#queue.add(JOB_NAME, job, { jobId: job.job_id })
    const init = this.#cache.addInit(this.#redis.multi(), job, createdAt).exec()
    try {
      const [, results] = await withDeadline(Promise.all([add, init]), this.#timeoutMs, 'Redis queue push')
      const failed = results?.find(([err]) => err)
      if (!results || failed) throw failed?.[0] ?? new Error('status initialisation was discarded')
    } catch (err) {
      // Either half may still land after a timeout: remove whatever did, once both have settled.
      void Promise.allSettled([add, init]).then(() => this.remove(job.job_id)).catch(() => {})
      throw new QueuePushError(`Redis push failed: ${(err as Error).message}`, err)
    }
  }

  /** Enqueues a job again after its entry was lost; a no-op when the entry exists. */
  async requeue (job: QueuedJob): Promise<void> {
    await withDeadline(this.#queue.add(JOB_NAME, job, { jobId: job.job_id }), this.#timeoutMs, 'Redis requeue')
  }

  /** What the queue knows of each job, in one round trip. */
  async inspect (ids: string[]): Promise<Map<string, QueueEntryState>> {
    const pipeline = this.#redis.pipeline()
    for (const id of ids) pipeline.hmget(this.#queue.toKey(id), 'timestamp', 'finishedOn', 'failedReason')
    const results = await withDeadline(pipeline.exec(), this.#timeoutMs, 'Redis queue inspection')
    const states = new Map<string, QueueEntryState>()
    ids.forEach((id, i) => {
      const [err, value] = results![i]
      if (err) throw err
      const [timestamp, finishedOn, failedReason] = value as Array<string | null>
      if (timestamp === null) states.set(id, { kind: 'missing' })
      else if (finishedOn !== null && failedReason !== null) states.set(id, { kind: 'failed', failedReason })
      else if (finishedOn !== null) states.set(id, { kind: 'completed' })
      else states.set(id, { kind: 'present' })
    })
    return states
  }

  /** Ids of entries waiting to run (not active), up to limit. */
  async waitingIds (limit: number): Promise<string[]> {
    return withDeadline(this.#queue.getRanges(['wait', 'prioritized', 'delayed'], 0, limit - 1, true), this.#timeoutMs, 'Redis queue listing')
  }

  /** Jobs per queue state, from BullMQ's counters (no key scans); bounded by the push timeout. */
  async depth (): Promise<QueueDepth> {
    const counts = await withDeadline(this.#queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active'), this.#timeoutMs, 'Redis queue counts')
    return { waiting: counts.waiting ?? 0, prioritized: counts.prioritized ?? 0, delayed: counts.delayed ?? 0, active: counts.active ?? 0 }
  }

  /** Worker processes consuming this queue (BullMQ names its worker connections; CLIENT LIST, no keys). */
  async consumers (): Promise<number> {
    return withDeadline(this.#queue.getWorkersCount(), this.#timeoutMs, 'Redis queue consumers')
  }

  /**
   * Takes a waiting job off the queue so no worker runs it. False when there was nothing to take: a
   * worker holds it (BullMQ refuses to remove a locked job) or the queue no longer knows it.
   */
  async withdraw (jobId: string): Promise<boolean> {
    if (this.#redis.status !== 'ready') throw new Error(`Redis connection is ${this.#redis.status}`)
    return (await withDeadline(this.#queue.remove(jobId), this.#timeoutMs, 'Redis queue removal')) === 1
  }

  /** Removes the queue entry and the status hash (compensation of a push whose commit failed). */
  async remove (jobId: string): Promise<void> {
    await withDeadline(Promise.all([this.#queue.remove(jobId), this.#cache.remove(jobId)]), this.#timeoutMs, 'Redis removal')
  }
}
