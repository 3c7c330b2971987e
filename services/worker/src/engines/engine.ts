import type { Logger } from 'pino'
import type { QueuedJob } from '@comfy-jobs/contracts'
import type { WorkflowModels } from '@comfy-jobs/rpc'
import type { WorkerConfig } from '../config.ts'
import { BuiltinEngine } from './builtin.ts'
import { createComfyEngine } from './comfyui/comfyui-engine.ts'

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
  /** the job's child logger (job_id bound) */
  logger?: Logger
}

export interface Engine {
  readonly name: string
  /** What the engine can run now: each workflow with the model names it takes. */
  runnable: () => WorkflowModels[]
  /** False while the engine cannot take jobs (its backend is down); the worker then stops taking them. */
  readonly ready: boolean
  /** Called with the new value whenever `ready` changes. */
  onReadyChange: (listener: (ready: boolean) => void) => void
  /** Starts background work (health probes); resolves once the first probe has answered or failed. */
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Known before the run starts, for the STARTED event; 0 when the engine cannot tell. */
  totalSteps: (job: QueuedJob) => number
  /** Rejects when the job cannot run (bad input, engine error) or when `signal` aborts. */
  run: (job: QueuedJob, options: EngineRunOptions) => Promise<EngineResult>
}

/** Throws (naming the template or variable) when the engine's configuration cannot work. */
export function createEngine (config: WorkerConfig, logger: Logger): Engine {
  switch (config.engine) {
    case 'builtin':
      return new BuiltinEngine({ steps: config.builtinSteps, stepMs: config.builtinStepMs })
    case 'comfyui':
      return createComfyEngine(config, logger)
  }
}
