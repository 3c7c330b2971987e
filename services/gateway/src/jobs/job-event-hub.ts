import type { Redis } from 'ioredis'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { EVENTS_CHANNEL } from '@comfy-jobs/contracts'

type Listener = () => void

/**
 * One pub/sub subscription per gateway for every job's events; wakes the local watchers of a job.
 * Messages are only wake-ups: watchers read the events themselves from the job's stream, so a lost
 * message costs latency, never an event (after a resubscribe every watcher is woken to catch up).
 */
export class JobEventHub {
  readonly #subscriber: Redis
  readonly #listeners = new Map<string, Set<Listener>>()
  readonly #log: Logger

  constructor (redis: Redis, logger: Logger) {
    this.#subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null })
    this.#log = logger
    this.#subscriber.on('message', (_channel: string, message: string) => {
      const jobId = message.slice(0, message.indexOf(' '))
      for (const listener of this.#listeners.get(jobId) ?? []) listener()
    })
    this.#subscriber.on('ready', () => {
      for (const set of this.#listeners.values()) for (const listener of set) listener()
    })
    this.#subscriber.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'event subscriber connection error'))
  }

  /** Subscribes without waiting: while Redis is away the subscription is made when it returns. */
  start (): void {
    this.#subscriber.subscribe(EVENTS_CHANNEL).catch((err: Error) => this.#log.warn({ err: err.message }, 'event subscription failed'))
  }

  async stop (): Promise<void> {
    this.#listeners.clear()
    this.#subscriber.disconnect()
  }

  get watchers (): number {
    let n = 0
    for (const set of this.#listeners.values()) n += set.size
    return n
  }

  watch (jobId: string, listener: Listener): () => void {
    let set = this.#listeners.get(jobId)
    if (!set) this.#listeners.set(jobId, set = new Set())
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#listeners.delete(jobId)
    }
  }
}
