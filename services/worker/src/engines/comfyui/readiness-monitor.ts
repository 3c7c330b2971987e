import type { Logger } from 'pino'
import type { ComfyHttpClient } from './comfy-http.ts'

export interface ReadinessMonitorOptions {
  /** a client with a short timeout: a probe must not outlast the poll interval by much */
  http: ComfyHttpClient
  pollMs: number
  logger: Logger
  /** runs once per outage's end, before listeners hear `ready` (e.g. re-read the model lists) */
  onUp: () => Promise<void>
}

/** Probes /system_stats every pollMs; ComfyUI is up while it answers. */
export class ReadinessMonitor {
  readonly #o: ReadinessMonitorOptions
  readonly #log: Logger
  readonly #listeners: Array<(ready: boolean) => void> = []
  #ready = false
  #timer: NodeJS.Timeout | null = null
  #running = false
  #probed = false

  constructor (options: ReadinessMonitorOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'comfy-readiness' })
  }

  get ready (): boolean {
    return this.#ready
  }

  onChange (listener: (ready: boolean) => void): void {
    this.#listeners.push(listener)
  }

  /** Resolves after the first probe, up or down. */
  async start (): Promise<void> {
    if (this.#running) return
    this.#running = true
    await this.#probe()
  }

  stop (): void {
    this.#running = false
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }

  async #probe (): Promise<void> {
    let up: boolean
    let why = ''
    try {
      await this.#o.http.systemStats()
      up = true
    } catch (err) {
      up = false
      why = (err as Error).message
    }
    if (up && !this.#ready) await this.#o.onUp().catch((err: Error) => this.#log.warn({ err: err.message }, 'ComfyUI answers but its model lists could not be read'))
    if (up !== this.#ready || !this.#probed) {
      if (up) this.#log.info('ComfyUI is up; taking jobs')
      else this.#log.warn({ err: why }, 'ComfyUI is not reachable; not taking jobs until it answers /system_stats')
    }
    this.#probed = true
    if (up !== this.#ready && this.#running) {
      this.#ready = up
      for (const listener of this.#listeners) listener(up)
    }
    if (this.#running) this.#timer = setTimeout(() => { void this.#probe() }, this.#o.pollMs)
  }
}
