import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { UNSTREAMED_REFRESH_MS, unstreamedWorkersKey, type UnstreamedWorker } from '@comfy-jobs/contracts'

/**
 * While no gateway streams this worker's events, says so in Redis (renewed every UNSTREAMED_REFRESH_MS),
 * where every gateway's health can see it — also gateways that do not list this worker.
 */
export class UnstreamedPresence {
  readonly #redis: Redis
  readonly #key: string
  readonly #workerId: string
  readonly #log: Logger
  #since: string | null = null
  #timer: NodeJS.Timeout | null = null

  constructor (redisUrl: string, queueName: string, workerId: string, logger: Logger) {
    this.#log = logger.child({ component: 'presence' })
    // connects on first use: a worker that is always streamed never opens it
    this.#redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 })
    this.#redis.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'presence connection error'))
    this.#key = unstreamedWorkersKey(queueName)
    this.#workerId = workerId
  }

  set (unstreamed: boolean): void {
    if (unstreamed === (this.#since !== null)) return
    if (unstreamed) {
      this.#since = new Date().toISOString()
      this.#renew()
      this.#timer = setInterval(() => this.#renew(), UNSTREAMED_REFRESH_MS)
      this.#timer.unref()
      return
    }
    this.#since = null
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    this.#redis.hdel(this.#key, this.#workerId).catch((err: Error) => this.#log.warn({ err: err.message }, 'could not clear the unstreamed mark'))
  }

  async stop (): Promise<void> {
    this.set(false)
    if (this.#redis.status === 'wait') this.#redis.disconnect() // never connected
    else await this.#redis.quit().catch(() => this.#redis.disconnect())
  }

  #renew (): void {
    const entry: UnstreamedWorker = { worker_id: this.#workerId, since: this.#since!, seen_at: Date.now() }
    this.#redis.hset(this.#key, this.#workerId, JSON.stringify(entry)).catch((err: Error) => this.#log.warn({ err: err.message }, 'could not mark this worker unstreamed in Redis'))
  }
}
