import type { QueuedJob } from '@comfy-jobs/contracts'
import type { WorkerConfig } from '../config.ts'
import { BuiltinEngine } from './builtin.ts'

export interface EngineProgress {
  step: number
  total_steps: number
  /** 0..100 */
  progress: number
  /** what the engine is working on */
  node: string
}

export interface EngineOutput {
  index: number
  mime: string
  width: number
  height: number
  data: Buffer
}

export interface EngineResult {
  outputs: EngineOutput[]
  metadata: Record<string, unknown>
}

export interface EngineRunOptions {
  signal: AbortSignal
  onProgress: (progress: EngineProgress) => void
}

export interface Engine {
  readonly name: string
  readonly workflows: readonly string[]
  readonly models: readonly string[]
  /** Known before the run starts, for the STARTED event; 0 when the engine cannot tell. */
  totalSteps: (job: QueuedJob) => number
  /** Rejects when the job cannot run (bad input, engine error) or when `signal` aborts. */
  run: (job: QueuedJob, options: EngineRunOptions) => Promise<EngineResult>
}

export function createEngine (config: WorkerConfig): Engine {
  switch (config.engine) {
    case 'builtin':
      return new BuiltinEngine({ steps: config.builtinSteps, stepMs: config.builtinStepMs })
    case 'comfyui':
      throw new Error('ENGINE=comfyui is not implemented in this worker yet; use ENGINE=builtin')
  }
}
