import type { Redis } from 'ioredis'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { workerRegistryEntryKey, workerRegistryIndexKey, type WorkerAnnouncement } from '@comfy-jobs/contracts'
import type { WorkerPool } from './worker-pool.ts'
import { withDeadline } from '../deadline.ts'

/** How often the registry is read. */
export const DISCOVERY_INTERVAL_MS = 1000

/** The live entries of a queue's worker registry; index members whose entry expired are removed. */
export async function liveWorkers (redis: Redis, queueName: string): Promise<WorkerAnnouncement[]> {
  const index = workerRegistryIndexKey(queueName)
  const ids = await redis.smembers(index)
  if (ids.length === 0) return []
  const values = await redis.mget(ids.map(id => workerRegistryEntryKey(queueName, id)))
  const live: WorkerAnnouncement[] = []
  const gone: string[] = []
  ids.forEach((id, i) => {
    const value = values[i]
    if (value === null) { gone.push(id); return }
    try { live.push(JSON.parse(value) as WorkerAnnouncement) } catch { gone.push(id) }
  })
  if (gone.length > 0) await redis.srem(index, ...gone)
  return live
}

/**
 * Keeps the pool linked to the workers the registry holds: every DISCOVERY_INTERVAL_MS it reads the
 * live entries and links to new workers, dropping those whose entry went (stopped, or its TTL ran out).
 * While Redis does not answer, the links stay as they are.
 */
export class WorkerDiscovery {
  readonly #redis: Redis
  readonly #queueName: string
  readonly #pool: WorkerPool
  readonly #log: Logger
  readonly #timeoutMs: number
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #failing = false

  constructor (redis: Redis, queueName: string, pool: WorkerPool, timeoutMs: number, logger: Logger) {
    this.#redis = redis
    this.#queueName = queueName
    this.#pool = pool
    this.#timeoutMs = timeoutMs
    this.#log = logger.child({ component: 'worker-discovery' })
  }

  start (): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.look() }, DISCOVERY_INTERVAL_MS)
    void this.look()
  }

  async stop (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#running
  }

  /** One look at the registry (at most one at a time). */
  look (): Promise<void> {
    this.#running ??= this.#look().finally(() => { this.#running = null })
    return this.#running
  }

  async #look (): Promise<void> {
    let live: WorkerAnnouncement[]
    try {
      live = await withDeadline(liveWorkers(this.#redis, this.#queueName), this.#timeoutMs, 'worker registry')
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: (err as Error).message }, 'cannot read the worker registry; keeping the links as they are')
      this.#failing = true
      return
    }
    this.#failing = false
    if (this.#timer === null) return
    const { added, dropped } = await this.#pool.sync(live)
    for (const address of added) this.#log.info({ worker: address }, 'worker found in the registry; linking to it')
    for (const address of dropped) this.#log.info({ worker: address }, 'worker gone from the registry; link dropped')
  }
}
