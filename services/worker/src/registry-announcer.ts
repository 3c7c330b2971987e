import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import {
  REGISTRY_HEARTBEAT_MS, REGISTRY_TTL_MS, workerRegistryEntryKey, workerRegistryIndexKey, type WorkerAnnouncement
} from '@comfy-jobs/contracts'

/**
 * Announces this worker in the queue's registry (see workerRegistryEntryKey) and renews the entry
 * every REGISTRY_HEARTBEAT_MS; gateways link to the workers they find there. The entry goes with
 * stop(), or by its TTL when the worker dies.
 */
export class RegistryAnnouncer {
  readonly #redis: Redis
  readonly #queueName: string
  readonly #workerId: string
  readonly #describe: () => Omit<WorkerAnnouncement, 'seen_at'>
  readonly #log: Logger
  #timer: NodeJS.Timeout | null = null
  #failing = false

  constructor (redisUrl: string, queueName: string, workerId: string, describe: () => Omit<WorkerAnnouncement, 'seen_at'>, logger: Logger) {
    this.#log = logger.child({ component: 'registry' })
    this.#redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true })
    this.#redis.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'registry connection error'))
    this.#queueName = queueName
    this.#workerId = workerId
    this.#describe = describe
  }

  /** Resolves once the first announcement was written, or failed (then it is tried again at every heartbeat). */
  async start (): Promise<void> {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.#renew() }, REGISTRY_HEARTBEAT_MS)
    this.#timer.unref()
    this.#log.info({ address: this.#describe().address, queue: this.#queueName }, 'announcing this worker in the registry')
    await this.#renew()
  }

  /** Withdraws the entry: gateways drop their link at their next look. */
  async stop (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    if (this.#redis.status === 'wait') return this.#redis.disconnect()
    await this.#redis.multi()
      .del(workerRegistryEntryKey(this.#queueName, this.#workerId))
      .srem(workerRegistryIndexKey(this.#queueName), this.#workerId)
      .exec()
      .catch((err: Error) => this.#log.warn({ err: err.message }, 'could not withdraw the registry entry; it expires by itself'))
    await this.#redis.quit().catch(() => this.#redis.disconnect())
  }

  async #renew (): Promise<void> {
    const entry: WorkerAnnouncement = { ...this.#describe(), seen_at: Date.now() }
    await this.#redis.multi()
      .set(workerRegistryEntryKey(this.#queueName, this.#workerId), JSON.stringify(entry), 'PX', REGISTRY_TTL_MS)
      .sadd(workerRegistryIndexKey(this.#queueName), this.#workerId)
      .exec()
      .then(() => {
        if (this.#failing) this.#log.info('registry entry renewed again')
        this.#failing = false
      }, (err: Error) => {
        if (!this.#failing) this.#log.warn({ err: err.message }, 'could not renew the registry entry; gateways that do not list this worker will drop it')
        this.#failing = true
      })
  }
}
