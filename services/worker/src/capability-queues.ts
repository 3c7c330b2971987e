import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { capabilityQueuesKey, parseCapabilityQueueName, RAW_GRAPH_WORKFLOW, REGISTRY_HEARTBEAT_MS, type QueuedJob } from '@comfy-jobs/contracts'
import type { Engine } from './engines/engine.ts'

/** Whether the engine runs the job's workflow with its model ('' = the workflow's default); raw graphs are the engine's to judge. */
export function engineRuns (engine: Engine, job: Pick<QueuedJob, 'workflow' | 'model' | 'graph'>): boolean {
  if (job.graph !== undefined || job.workflow === RAW_GRAPH_WORKFLOW) return true
  return engine.runnable().some(r => r.workflow === job.workflow && (job.model === '' || r.models.includes(job.model)))
}

/**
 * Consumes the capability queues (see capabilityQueueName) of the workflows and models this worker
 * runs: every REGISTRY_HEARTBEAT_MS it reads which are in use and adds the ones it can run (the
 * engine's list changes, e.g. as ComfyUI's models appear).
 */
export class CapabilityQueues {
  readonly #redis: Redis
  readonly #queueName: string
  readonly #engine: Engine
  readonly #add: (name: string) => Promise<void>
  readonly #log: Logger
  #timer: NodeJS.Timeout | null = null
  #looking: Promise<void> | null = null

  constructor (redisUrl: string, queueName: string, engine: Engine, add: (name: string) => Promise<void>, logger: Logger) {
    this.#log = logger.child({ component: 'capability-queues' })
    this.#redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true })
    this.#redis.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'capability queues connection error'))
    this.#queueName = queueName
    this.#engine = engine
    this.#add = add
  }

  async start (): Promise<void> {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => { void this.look() }, REGISTRY_HEARTBEAT_MS)
    this.#timer.unref()
    await this.look()
  }

  look (): Promise<void> {
    this.#looking ??= this.#look().finally(() => { this.#looking = null })
    return this.#looking
  }

  async stop (): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#looking
    if (this.#redis.status === 'wait') this.#redis.disconnect()
    else await this.#redis.quit().catch(() => this.#redis.disconnect())
  }

  async #look (): Promise<void> {
    let names: string[]
    try {
      names = await this.#redis.smembers(capabilityQueuesKey(this.#queueName))
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'cannot read the capability queues in use')
      return
    }
    for (const name of names.sort()) {
      const capability = parseCapabilityQueueName(this.#queueName, name)
      if (capability === null || !engineRuns(this.#engine, capability)) continue
      await this.#add(name).catch((err: Error) => this.#log.warn({ queue: name, err: err.message }, 'cannot consume capability queue'))
    }
  }
}
