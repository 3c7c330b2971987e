import type { Logger } from 'pino'
import type { InputRef, OutputKind, QueuedJob } from '@comfy-jobs/contracts'
import type { NodeCatalogue, WorkflowModels } from '@comfy-jobs/rpc'
import type { WorkerConfig } from '../config.ts'
import { BuiltinEngine } from './builtin/builtin-engine.ts'
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
  kind: OutputKind
  mime: string
  /** 0 for audio */
  width: number
  height: number
  duration_ms?: number
  frames?: number
  data: Buffer
}

/** An input's bytes, fetched by the worker (from a gateway) before the run. */
export interface ResolvedInput {
  ref: InputRef
  data: Buffer
}

/** A job's inputs by declared name: `images` inputs as lists; an optional input not given is absent. */
export type ResolvedInputs = Record<string, ResolvedInput | ResolvedInput[]>

export interface EngineResult {
  outputs: EngineOutput[]
  metadata: Record<string, unknown>
}

export interface EngineRunOptions {
  signal: AbortSignal
  onProgress: (progress: EngineProgress) => void
  /** the job's child logger (job_id bound) */
  logger?: Logger
  inputs: ResolvedInputs
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
  /** The node classes of the engine's ComfyUI, for raw graphs; absent or null when it has none. */
  nodeCatalogue?: () => NodeCatalogue | null
  /** Rejects when the job cannot run (bad input, engine error) or when `signal` aborts. */
  run: (job: QueuedJob, options: EngineRunOptions) => Promise<EngineResult>
}

/** Throws (naming the template or variable) when the engine's configuration cannot work. */
export function createEngine (config: WorkerConfig, logger: Logger): Engine {
  const engine = config.engine === 'builtin'
    ? new BuiltinEngine({ steps: config.builtinSteps, stepMs: config.builtinStepMs })
    : createComfyEngine(config, logger)
  return config.workflows === null ? engine : onlyWorkflows(engine, config.workflows)
}

/** The engine offering only some of its workflows (WORKER_WORKFLOWS): a worker dedicated to them. */
function onlyWorkflows (engine: Engine, workflows: string[]): Engine {
  return {
    get name () { return engine.name },
    runnable: () => engine.runnable().filter(r => workflows.includes(r.workflow)),
    get ready () { return engine.ready },
    onReadyChange: listener => engine.onReadyChange(listener),
    start: () => engine.start(),
    stop: () => engine.stop(),
    totalSteps: job => engine.totalSteps(job),
    ...(engine.nodeCatalogue !== undefined ? { nodeCatalogue: () => engine.nodeCatalogue!() } : {}),
    run: (job, options) => engine.run(job, options)
  }
}
