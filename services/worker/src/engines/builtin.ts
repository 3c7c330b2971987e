import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { BUILTIN_MODELS, BUILTIN_WORKFLOWS, MAX_BATCH_SIZE, MAX_SEED, type QueuedJob } from '@comfy-jobs/contracts'
import { encodePng } from '../png.ts'
import type { WorkflowModels } from '@comfy-jobs/rpc'
import type { Engine, EngineResult, EngineRunOptions } from './engine.ts'
import { TestPattern } from './test-pattern.ts'
import { UnsupportedJobError } from './unsupported-job-error.ts'

export const BUILTIN_SOFTWARE = 'comfy-jobs builtin renderer (test pattern, not a diffusion model)'
const MAX_SIDE = 4096

export interface BuiltinEngineOptions {
  steps: number
  stepMs: number
}

/**
 * Runs without a GPU or model download: each step renders a band of rows of every image in the
 * batch and waits stepMs, so progress is real and timing is predictable; the last step encodes.
 */
export class BuiltinEngine implements Engine {
  readonly name = 'builtin'
  readonly workflows: readonly string[] = BUILTIN_WORKFLOWS
  readonly models: readonly string[] = BUILTIN_MODELS
  /** It needs nothing outside the process, so it is always ready. */
  readonly ready = true
  readonly #steps: number
  readonly #stepMs: number

  constructor (options: BuiltinEngineOptions) {
    this.#steps = options.steps
    this.#stepMs = options.stepMs
  }

  runnable (): WorkflowModels[] {
    return this.workflows.map(workflow => ({ workflow, models: [...this.models] }))
  }

  onReadyChange (): void {}
  async start (): Promise<void> {}
  async stop (): Promise<void> {}

  totalSteps (): number {
    return this.#steps
  }

  async run (job: QueuedJob, { signal, onProgress }: EngineRunOptions): Promise<EngineResult> {
    this.#check(job)
    const { width, height, seed, batch_size: batchSize } = job.params
    const seeds = Array.from({ length: batchSize }, (_, index) => (seed + index) % (MAX_SEED + 1))
    const patterns = seeds.map(s => new TestPattern({ prompt: job.prompt, seed: s, width, height }))
    const total = this.#steps
    for (let step = 1; step <= total; step++) {
      signal.throwIfAborted()
      const from = Math.floor(height * (step - 1) / total)
      const to = Math.floor(height * step / total)
      for (const pattern of patterns) pattern.renderRows(from, to)
      if (this.#stepMs > 0) await sleep(this.#stepMs, undefined, { signal })
      else await yieldToLoop(undefined, { signal })
      onProgress({ step, total_steps: total, progress: Math.floor(step * 100 / total), node: 'render' })
    }
    signal.throwIfAborted()
    const outputs = patterns.map((pattern, index) => ({
      index,
      mime: 'image/png',
      width,
      height,
      data: encodePng(pattern, { text: { Software: BUILTIN_SOFTWARE } })
    }))
    return {
      outputs,
      metadata: {
        renderer: 'builtin',
        kind: 'test-pattern',
        note: BUILTIN_SOFTWARE,
        workflow: job.workflow,
        model: job.model,
        width,
        height,
        seeds,
        steps: total
      }
    }
  }

  #check (job: QueuedJob): void {
    if (!this.workflows.includes(job.workflow)) {
      throw new UnsupportedJobError(`workflow ${JSON.stringify(job.workflow)} is not supported by the builtin engine (supported: ${this.workflows.join(', ')})`)
    }
    if (!this.models.includes(job.model)) {
      throw new UnsupportedJobError(`model ${JSON.stringify(job.model)} is not supported by the builtin engine (supported: ${this.models.join(', ')})`)
    }
    const p = job.params
    if (typeof job.prompt !== 'string') throw new UnsupportedJobError('prompt must be a string')
    for (const [name, value, min, max] of [
      ['width', p?.width, 1, MAX_SIDE],
      ['height', p?.height, 1, MAX_SIDE],
      ['seed', p?.seed, 0, MAX_SEED],
      ['batch_size', p?.batch_size, 1, MAX_BATCH_SIZE]
    ] as const) {
      if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
        throw new UnsupportedJobError(`params.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
      }
    }
  }
}
