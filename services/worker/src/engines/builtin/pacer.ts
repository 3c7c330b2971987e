import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import type { EngineProgress } from '../engine.ts'

export interface PacerOptions {
  total: number
  signal: AbortSignal
  onProgress: (progress: EngineProgress) => void
}

/**
 * Reports each finished step, after waiting the step's share of the pacing (so progress is real
 * and a job's length predictable); a cancel is honoured at every wait.
 */
export class Pacer {
  readonly #o: PacerOptions
  #step = 0

  constructor (options: PacerOptions) {
    this.#o = options
  }

  get total (): number {
    return this.#o.total
  }

  async tick (node: string, waitMs: number): Promise<void> {
    const { signal, total, onProgress } = this.#o
    if (waitMs > 0) await sleep(waitMs, undefined, { signal })
    else await yieldToLoop(undefined, { signal })
    this.#step++
    onProgress({ step: this.#step, total_steps: total, progress: Math.floor(this.#step * 100 / total), node })
  }
}
