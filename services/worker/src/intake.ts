import type { Logger } from 'pino'

/** Why the worker takes no jobs, in the words GetInfo and the gateway's health use. */
export const NOT_READY = {
  stopping: 'the worker is shutting down',
  engine: 'its engine is not ready (e.g. ComfyUI does not answer)',
  unstreamed: 'no gateway streams its events, so what it ran could not be recorded'
} as const

export interface IntakeState {
  /** takes jobs */
  ready: boolean
  /** why not; '' when ready */
  reason: string
  /** no gateway has streamed this worker's events for longer than the grace */
  unstreamed: boolean
}

export interface IntakeDeps {
  pause: () => Promise<void>
  resume: () => Promise<void>
  /** called whenever the state changes (gRPC health, presence in Redis follow it) */
  onChange: (state: IntakeState) => void
  graceMs: number
  logger: Logger
}

/**
 * Whether the worker takes jobs: while its engine is ready, it is not stopping, and a gateway streams
 * its events — or did within the grace (a gateway restarting, or not yet up). A worker that no gateway
 * streams would run jobs nobody records and then hold them, waiting for an ack that never comes.
 */
export class Intake {
  readonly #d: IntakeDeps
  readonly #log: Logger
  #engineReady = false
  #stopping = false
  #streamed = false
  #unstreamed = false
  #grace: NodeJS.Timeout | null = null
  #applied: boolean | null = null

  constructor (deps: IntakeDeps) {
    this.#d = deps
    this.#log = deps.logger.child({ component: 'intake' })
  }

  get state (): IntakeState {
    const reason = this.#stopping ? NOT_READY.stopping : !this.#engineReady ? NOT_READY.engine : this.#unstreamed ? NOT_READY.unstreamed : ''
    return { ready: reason === '', reason, unstreamed: this.#unstreamed }
  }

  /** The grace for a first gateway counts from here. */
  async start (engineReady: boolean): Promise<void> {
    this.#engineReady = engineReady
    if (!this.#streamed) this.#startGrace()
    await this.#apply()
  }

  async engineReady (ready: boolean): Promise<void> {
    this.#engineReady = ready
    await this.#apply()
  }

  async streamed (attached: boolean): Promise<void> {
    this.#streamed = attached
    if (attached) {
      this.#clearGrace()
      if (this.#unstreamed) this.#log.info('a gateway streams this worker\'s events again; taking jobs')
      this.#unstreamed = false
    } else {
      this.#startGrace()
    }
    await this.#apply()
  }

  async stop (): Promise<void> {
    this.#stopping = true
    this.#clearGrace()
    await this.#apply()
  }

  #startGrace (): void {
    this.#clearGrace()
    this.#grace = setTimeout(() => {
      this.#grace = null
      this.#unstreamed = true
      this.#log.warn({ grace_ms: this.#d.graceMs }, 'no gateway streams this worker\'s events; not taking jobs until one does')
      void this.#apply()
    }, this.#d.graceMs)
    this.#grace.unref()
  }

  #clearGrace (): void {
    if (this.#grace !== null) clearTimeout(this.#grace)
    this.#grace = null
  }

  async #apply (): Promise<void> {
    const state = this.state
    this.#d.onChange(state)
    if (state.ready === this.#applied) return
    this.#applied = state.ready
    await (state.ready ? this.#d.resume() : this.#d.pause())
  }
}
