import { BUILTIN_MODELS, BUILTIN_WORKFLOWS, MAX_BATCH_SIZE, MAX_SEED, RAW_GRAPH_NEEDS_COMFYUI, type QueuedJob } from '@comfy-jobs/contracts'
import { encodePng, WebmWriter } from '@comfy-jobs/media'
import type { WorkflowModels } from '@comfy-jobs/rpc'
import type { Engine, EngineOutput, EngineProgress, EngineResult, EngineRunOptions } from '../engine.ts'
import { UnsupportedJobError } from '../unsupported-job-error.ts'
import { shippedDeclarations, type WorkerDeclaration } from '../workflow-declaration.ts'
import { JobInputs } from './job-inputs.ts'
import { Pacer } from './pacer.ts'
import type { Declared, ImageWorkflow, PlanContext, VideoWorkflow } from './workflow.ts'
import { BUILTIN_RENDERERS } from './workflows.ts'

export const BUILTIN_SOFTWARE = 'comfy-jobs builtin renderer (test patterns and simple image operations, not a diffusion model)'
const MAX_SIDE = 4096

export interface BuiltinEngineOptions {
  steps: number
  stepMs: number
}

interface Rendered {
  outputs: EngineOutput[]
  declared: Declared[]
  steps: number
  video?: { fps: number, frames: number }
}

interface RunContext {
  job: QueuedJob
  inputs: JobInputs
  seeds: number[]
  signal: AbortSignal
  onProgress: (progress: EngineProgress) => void
}

/**
 * Runs every shipped workflow without a GPU or model download, from the job's real inputs: images
 * are made in row bands over BUILTIN_STEPS steps, videos a frame a step (the same pacing spread
 * over the frames), so progress is real and a job's length predictable. What each workflow does
 * is written in its file and declared in the job's metadata; none of it is a diffusion model.
 */
export class BuiltinEngine implements Engine {
  readonly name = 'builtin'
  readonly workflows: readonly string[] = BUILTIN_WORKFLOWS
  readonly models: readonly string[] = BUILTIN_MODELS
  /** It needs nothing outside the process, so it is always ready. */
  readonly ready = true
  readonly #steps: number
  readonly #stepMs: number
  /** what each workflow takes: the shipped manifests say, as they do for the comfyui engine */
  readonly #declarations: Map<string, WorkerDeclaration>

  constructor (options: BuiltinEngineOptions) {
    this.#steps = options.steps
    this.#stepMs = options.stepMs
    this.#declarations = shippedDeclarations(this.workflows)
  }

  runnable (): WorkflowModels[] {
    // the built-in renderer loads no model files
    return this.workflows.map(workflow => ({ workflow, models: [...this.models], ...this.#declarations.get(workflow)!, model_files: [] }))
  }

  onReadyChange (): void {}
  async start (): Promise<void> {}
  async stop (): Promise<void> {}

  totalSteps (job: QueuedJob): number {
    const workflow = BUILTIN_RENDERERS[job.workflow]
    if (workflow?.output !== 'video') return this.#steps
    return workflow.framesOf(job) * (job.params?.batch_size ?? 1)
  }

  async run (job: QueuedJob, { signal, onProgress, inputs }: EngineRunOptions): Promise<EngineResult> {
    this.#check(job)
    const workflow = BUILTIN_RENDERERS[job.workflow]
    const { seed, batch_size: batchSize } = job.params
    const seeds = Array.from({ length: batchSize }, (_, index) => (seed + index) % (MAX_SEED + 1))
    const context: RunContext = { job, inputs: new JobInputs(job.workflow, inputs), seeds, signal, onProgress }
    const rendered = workflow.output === 'image'
      ? await this.#runImages(workflow, context)
      : await this.#runVideos(workflow, context)
    const first = rendered.outputs[0]
    return {
      outputs: rendered.outputs,
      metadata: {
        renderer: 'builtin',
        kind: workflow.kind,
        note: BUILTIN_SOFTWARE,
        workflow: job.workflow,
        model: job.model,
        width: first.width,
        height: first.height,
        ...rendered.video,
        seeds,
        steps: rendered.steps,
        outputs: rendered.declared
      }
    }
  }

  async #plans<P> (plan: (context: PlanContext) => Promise<P>, { job, inputs, seeds, signal }: RunContext): Promise<P[]> {
    const plans: P[] = []
    for (const seed of seeds) {
      signal.throwIfAborted()
      plans.push(await plan({ job, inputs, seed }))
    }
    return plans
  }

  async #runImages (workflow: ImageWorkflow, context: RunContext): Promise<Rendered> {
    const { signal, onProgress } = context
    const plans = await this.#plans(workflow.plan, context)
    const total = this.#steps
    const pacer = new Pacer({ total, signal, onProgress })
    for (let step = 1; step <= total; step++) {
      signal.throwIfAborted()
      for (const plan of plans) {
        const { height } = plan.image
        await plan.renderRows(Math.floor(height * (step - 1) / total), Math.floor(height * step / total))
      }
      await pacer.tick('render', this.#stepMs)
    }
    signal.throwIfAborted()
    const outputs: EngineOutput[] = plans.map(({ image }, index) => ({
      index,
      kind: 'image',
      mime: 'image/png',
      width: image.width,
      height: image.height,
      data: encodePng(image, { text: { Software: BUILTIN_SOFTWARE } })
    }))
    return { outputs, declared: plans.map(plan => plan.declared), steps: total }
  }

  async #runVideos (workflow: VideoWorkflow, context: RunContext): Promise<Rendered> {
    const { signal, onProgress } = context
    const plans = await this.#plans(workflow.plan, context)
    const total = plans.reduce((sum, plan) => sum + plan.frames, 0)
    const pacer = new Pacer({ total, signal, onProgress })
    const outputs: EngineOutput[] = []
    for (const [index, plan] of plans.entries()) {
      const { width, height, fps, frames, audio } = plan
      const writer = await WebmWriter.open({ width, height, fps, audio })
      try {
        for (let frame = 0; frame < frames; frame++) {
          signal.throwIfAborted()
          await writer.addFrame(await plan.renderFrame(frame))
          await pacer.tick('frame', this.#stepMs * this.#steps / frames)
        }
        signal.throwIfAborted()
        const data = await writer.finish()
        const seconds = audio !== undefined ? (audio.channels[0]?.length ?? 0) / audio.sampleRate : frames / fps
        outputs.push({ index, kind: 'video', mime: 'video/webm', width, height, frames, duration_ms: Math.round(seconds * 1000), data })
      } finally {
        await writer.close()
      }
    }
    const { fps, frames } = plans[0]
    return { outputs, declared: plans.map(plan => plan.declared), steps: total, video: { fps, frames } }
  }

  #check (job: QueuedJob): void {
    if (job.graph !== undefined) throw new UnsupportedJobError(RAW_GRAPH_NEEDS_COMFYUI)
    if (!this.workflows.includes(job.workflow) || BUILTIN_RENDERERS[job.workflow] === undefined) {
      throw new UnsupportedJobError(`workflow ${JSON.stringify(job.workflow)} is not supported by the builtin engine (supported: ${this.workflows.join(', ')})`)
    }
    if (!this.models.includes(job.model)) {
      throw new UnsupportedJobError(`model ${JSON.stringify(job.model)} is not supported by the builtin engine (supported: ${this.models.join(', ')})`)
    }
    const p = job.params
    if (typeof job.prompt !== 'string') throw new UnsupportedJobError('prompt must be a string')
    if (job.prompts !== undefined && (!Array.isArray(job.prompts) || !job.prompts.every(prompt => typeof prompt === 'string'))) {
      throw new UnsupportedJobError('prompts must be a list of strings')
    }
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
