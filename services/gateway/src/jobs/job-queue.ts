import { Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { capabilityQueuesKey, type QueuedJob } from '@comfy-jobs/contracts'
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

/** Which capability queue a job goes to; null: the queue itself (every live worker can run it). */
export type JobRouter = (job: QueuedJob) => string | null

/**
 * The producer side of the BullMQ queues — the queue itself and the capability queues (see
 * capabilityQueueName) —, plus the status hash that is born with each entry. A job is looked for in
 * every queue in use, so callers need not know where it was routed.
 */
export class JobQueue {
  readonly #queue: Queue
  readonly #redis: Redis
  readonly #cache: StatusCache
  readonly #timeoutMs: number
  readonly #makeQueue: (name: string) => Queue
  readonly #capabilityQueues = new Map<string, Queue>()
  #route: JobRouter = () => null
  #lastConnectionError = ''

  constructor (queue: Queue, redis: Redis, cache: StatusCache, timeoutMs: number, makeQueue = (name: string) => new Queue(name, { connection: redis })) {
    this.#queue = queue
    this.#redis = redis
    this.#cache = cache
    this.#timeoutMs = timeoutMs
    this.#makeQueue = makeQueue
    redis.on('error', (err: Error) => { this.#lastConnectionError = err.message })
    redis.on('ready', () => { this.#lastConnectionError = '' })
  }

  get queue (): Queue {
    return this.#queue
  }

  /** Set once the workers' capabilities are known (the ingest plugin); until then every job goes to the queue itself. */
  setRouter (route: JobRouter): void {
    this.#route = route
  }

  /** The queue a job goes to now. */
  queueOf (job: QueuedJob): Queue {
    const name = this.#route(job)
    return name === null ? this.#queue : this.#capabilityQueue(name)
  }

  #capabilityQueue (name: string): Queue {
    let queue = this.#capabilityQueues.get(name)
    if (queue === undefined) {
      queue = this.#makeQueue(name)
      this.#capabilityQueues.set(name, queue)
    }
    return queue
  }

  /** The queue itself and every capability queue in use. */
  async #allQueues (): Promise<Queue[]> {
    const names = await this.#redis.smembers(capabilityQueuesKey(this.#queue.name))
    return [this.#queue, ...names.sort().map(n => this.#capabilityQueue(n))]
  }

  async close (): Promise<void> {
    await Promise.all([this.#queue, ...this.#capabilityQueues.values()].map(q => q.close()))
  }

  /** push() of one job. */
  async push (job: QueuedJob, createdAt: Date, owner: string): Promise<void> {
    await this.pushMany([{ job, createdAt, owner }])
  }

  /**
   * Adds the jobs (BullMQ jobId = job id, so a repeat is a no-op) and initialises their status hashes:
   * one bulk add and one MULTI, written to the socket together (one round trip for a whole submit
   * group). Fails within the push timeout, never waits for a reconnect; a failure leaves none of them.
   */
  async pushMany (entries: ReadonlyArray<{ job: QueuedJob, createdAt: Date, owner: string }>): Promise<void> {
    if (this.#redis.status !== 'ready') {
      const cause = new Error(this.#lastConnectionError || `Redis connection is ${this.#redis.status}`)
      throw new QueuePushError(`Redis push failed: connection is ${this.#redis.status}`, cause)
    }
    // one add per queue the group's jobs are routed to (a bulk add when it takes several)
    const byQueue = new Map<Queue, QueuedJob[]>()
    for (const { job } of entries) {
      const queue = this.queueOf(job)
      byQueue.set(queue, [...(byQueue.get(queue) ?? []), job])
    }
    const add = Promise.all([...byQueue].map(([queue, jobs]) => jobs.length === 1
      ? queue.add(JOB_NAME, jobs[0], { jobId: jobs[0].job_id })
      : queue.addBulk(jobs.map(job => ({ name: JOB_NAME, data: job, opts: { jobId: job.job_id } })))))
    let multi = this.#redis.multi()
    for (const { job, createdAt, owner } of entries) multi = this.#cache.addInit(multi, job, createdAt, owner)
    for (const queue of byQueue.keys()) if (queue !== this.#queue) multi.sadd(capabilityQueuesKey(this.#queue.name), queue.name)
    const init = multi.exec()
    try {
      const [, results] = await withDeadline(Promise.all([add, init]), this.#timeoutMs, 'Redis queue push')
      const failed = results?.find(([err]) => err)
      if (!results || failed) throw failed?.[0] ?? new Error('status initialisation was discarded')
    } catch (err) {
      // Either half may still land after a timeout: remove whatever did, once both have settled.
      void Promise.allSettled([add, init]).then(() => Promise.all(entries.map(({ job }) => this.remove(job.job_id)))).catch(() => {})
      throw new QueuePushError(`Redis push failed: ${(err as Error).message}`, err)
    }
  }

  /** Enqueues a job again after its entry was lost; a no-op when the entry exists. */
  async requeue (job: QueuedJob): Promise<void> {
    const queue = this.queueOf(job)
    const add = async (): Promise<void> => {
      if (queue !== this.#queue) await this.#redis.sadd(capabilityQueuesKey(this.#queue.name), queue.name)
      await queue.add(JOB_NAME, job, { jobId: job.job_id })
    }
    await withDeadline(add(), this.#timeoutMs, 'Redis requeue')
  }

  /** What the queue knows of each job, in one round trip. */
  async inspect (ids: string[]): Promise<Map<string, QueueEntryState>> {
    const queues = await withDeadline(this.#allQueues(), this.#timeoutMs, 'Redis queue listing')
    const pipeline = this.#redis.pipeline()
    for (const id of ids) for (const queue of queues) pipeline.hmget(queue.toKey(id), 'timestamp', 'finishedOn', 'failedReason')
    const results = await withDeadline(pipeline.exec(), this.#timeoutMs, 'Redis queue inspection')
    const states = new Map<string, QueueEntryState>()
    ids.forEach((id, i) => {
      // the queue that holds an entry for it, else the first (all missing)
      let found = results![i * queues.length]
      for (let q = 0; q < queues.length; q++) {
        const result = results![i * queues.length + q]
        if (result[0]) throw result[0]
        if ((result[1] as Array<string | null>)[0] !== null) { found = result; break }
      }
      const [err, value] = found
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
    const list = async (): Promise<string[]> => {
      const ids: string[] = []
      for (const queue of await this.#allQueues()) {
        if (ids.length >= limit) break
        ids.push(...await queue.getRanges(['wait', 'prioritized', 'delayed'], 0, limit - ids.length - 1, true))
      }
      return ids
    }
    return withDeadline(list(), this.#timeoutMs, 'Redis queue listing')
  }

  /** Jobs per queue state, from BullMQ's counters (no key scans); bounded by the push timeout. */
  async depth (): Promise<QueueDepth> {
    const count = async (): Promise<QueueDepth> => {
      const all = await Promise.all((await this.#allQueues()).map(q => q.getJobCounts('waiting', 'prioritized', 'delayed', 'active')))
      const sum = (state: string): number => all.reduce((n, c) => n + (c[state] ?? 0), 0)
      return { waiting: sum('waiting'), prioritized: sum('prioritized'), delayed: sum('delayed'), active: sum('active') }
    }
    return withDeadline(count(), this.#timeoutMs, 'Redis queue counts')
  }

  /** Worker processes consuming this queue (BullMQ names its worker connections; CLIENT LIST, no keys). */
  async consumers (): Promise<number> {
    // a worker consumes the queue itself (always) and the capability queues it can run: count it once
    return withDeadline(this.#queue.getWorkersCount(), this.#timeoutMs, 'Redis queue consumers')
  }

  /**
   * Takes a waiting job off the queue so no worker runs it. False when there was nothing to take: a
   * worker holds it (BullMQ refuses to remove a locked job) or the queue no longer knows it.
   */
  async withdraw (jobId: string): Promise<boolean> {
    if (this.#redis.status !== 'ready') throw new Error(`Redis connection is ${this.#redis.status}`)
    const remove = async (): Promise<boolean> => {
      const removed = await Promise.all((await this.#allQueues()).map(q => q.remove(jobId)))
      return removed.some(n => n === 1)
    }
    return withDeadline(remove(), this.#timeoutMs, 'Redis queue removal')
  }

  /** Removes a completed entry, so that the job can be added again under its id. */
  async discardCompleted (jobId: string): Promise<void> {
    const removeEntries = async (): Promise<unknown> => Promise.all((await this.#allQueues()).map(q => q.remove(jobId)))
    await withDeadline(removeEntries(), this.#timeoutMs, 'Redis queue removal')
  }

  /** Removes the queue entry and the status hash (compensation of a push whose commit failed). */
  async remove (jobId: string): Promise<void> {
    const removeEntries = async (): Promise<unknown> => Promise.all((await this.#allQueues()).map(q => q.remove(jobId)))
    await withDeadline(Promise.all([removeEntries(), this.#cache.remove(jobId)]), this.#timeoutMs, 'Redis removal')
  }
}
