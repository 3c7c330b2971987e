import type { Logger } from 'pino'
import { MAX_BATCH_SIZE, MAX_SEED, RAW_GRAPH_WORKFLOW, rawGraphInputs, type QueuedJob } from '@comfy-jobs/contracts'
import type { NodeCatalogue, WorkflowModels } from '@comfy-jobs/rpc'
import type { WorkerConfig } from '../../config.ts'
import type { Engine, EngineResult, EngineRunOptions } from '../engine.ts'
import { UnsupportedJobError } from '../unsupported-job-error.ts'
import { ComfyHttpClient } from './comfy-http.ts'
import { ComfyJobError } from './comfy-errors.ts'
import { ComfySocket } from './comfy-socket.ts'
import { ModelCatalogue } from './model-catalogue.ts'
import { NodeCatalogueReader } from './node-catalogue.ts'
import { fetchOutputs, historyError } from './outputs.ts'
import { ProgressTracker } from './progress-tracker.ts'
import { PromptFollower } from './prompt-follower.ts'
import { PromptHandoff, type RunPlan } from './prompt-handoff.ts'
import { ReadinessMonitor } from './readiness-monitor.ts'
import { injectJob, type UploadedInputs } from './template-injector.ts'
import { uploadInputs } from './input-uploader.ts'
import { loadTemplates } from './template-loader.ts'
import { resolveModel, type WorkflowTemplate } from './workflow-template.ts'

const PROBE_TIMEOUT_MS = 3000
const CATALOGUE_REFRESH_MS = 30_000

/** A job's template and model, checked before anything is uploaded. */
interface Resolved {
  template: WorkflowTemplate
  model: { key: string, file: string }
}

export interface ComfyEngineOptions {
  templates: Map<string, WorkflowTemplate>
  url: string
  workerId: string
  jobTimeoutMs: number
  pollMs: number
  giveUpMs: number
  logger: Logger
}

/** Reads the templates (refusing to start on a broken one) and builds the engine. */
export function createComfyEngine (config: WorkerConfig, logger: Logger): ComfyEngine {
  const templates = loadTemplates(config.workflowsDir, (name, by) => logger.info({ workflow: name, source: by }, 'user template replaces the shipped one'))
  logger.info({ workflows: [...templates.keys()] }, 'workflow templates loaded')
  return new ComfyEngine({
    templates,
    url: config.comfyuiUrl,
    workerId: config.workerId,
    jobTimeoutMs: config.jobTimeoutMs,
    pollMs: config.comfyuiPollMs,
    giveUpMs: config.comfyuiGiveUpMs,
    logger
  })
}

/** Runs jobs on a ComfyUI server: template → POST /prompt → socket + /history → /view. */
export class ComfyEngine implements Engine {
  readonly name = 'comfyui'
  readonly #o: ComfyEngineOptions
  readonly #http: ComfyHttpClient
  readonly #socket: ComfySocket
  readonly #catalogue: ModelCatalogue
  readonly #nodes: NodeCatalogueReader
  readonly #handoff: PromptHandoff
  readonly #monitor: ReadinessMonitor
  #refreshTimer: NodeJS.Timeout | null = null

  constructor (options: ComfyEngineOptions) {
    this.#o = options
    const log = options.logger.child({ comfyui_url: options.url })
    this.#http = new ComfyHttpClient(options.url)
    this.#socket = new ComfySocket(options.url, options.workerId, log)
    this.#catalogue = new ModelCatalogue(options.templates, this.#http, log)
    this.#nodes = new NodeCatalogueReader(this.#http, log)
    this.#handoff = new PromptHandoff({ http: this.#http, socket: this.#socket, giveUpMs: options.giveUpMs })
    this.#monitor = new ReadinessMonitor({
      http: new ComfyHttpClient(options.url, PROBE_TIMEOUT_MS),
      pollMs: options.pollMs,
      logger: log,
      onUp: async () => {
        this.#socket.reconnectSoon()
        await this.#refreshCatalogues()
      }
    })
  }

  get ready (): boolean {
    return this.#monitor.ready
  }

  onReadyChange (listener: (ready: boolean) => void): void {
    this.#monitor.onChange(listener)
  }

  runnable (): WorkflowModels[] {
    return this.#catalogue.runnable()
  }

  nodeCatalogue (): NodeCatalogue | null {
    return this.#nodes.catalogue
  }

  /** The models each template can use, and every node class (what raw graphs are checked against). */
  async #refreshCatalogues (): Promise<void> {
    await Promise.all([this.#catalogue.refresh(), this.#nodes.refresh()])
  }

  async start (): Promise<void> {
    this.#socket.start()
    await this.#monitor.start()
    this.#refreshTimer = setInterval(() => {
      if (this.ready) this.#refreshCatalogues().catch(() => {})
    }, CATALOGUE_REFRESH_MS).unref()
  }

  async stop (): Promise<void> {
    this.#monitor.stop()
    this.#socket.stop()
    if (this.#refreshTimer !== null) clearInterval(this.#refreshTimer)
  }

  totalSteps (job: QueuedJob): number {
    const graph = job.graph ?? this.#o.templates.get(job.workflow)?.graph
    return graph ? new ProgressTracker(graph).totalSteps : 0
  }

  async run (job: QueuedJob, { signal, onProgress, logger, inputs }: EngineRunOptions): Promise<EngineResult> {
    const resolved = job.graph !== undefined ? null : this.#resolve(job)
    const promptId = job.job_id
    const log = (logger ?? this.#o.logger.child({ job_id: promptId })).child({ prompt_id: promptId, workflow: resolved?.template.name ?? RAW_GRAPH_WORKFLOW })
    const timeout = AbortSignal.timeout(this.#o.jobTimeoutMs)
    const stop = AbortSignal.any([signal, timeout])
    const timedOut = () => new ComfyJobError(`the job timed out after ${this.#o.jobTimeoutMs} ms (JOB_TIMEOUT_MS); it was stopped in ComfyUI`)
    const uploaded = await uploadInputs(this.#http, inputs, { giveUpMs: this.#o.giveUpMs, stop, log })
      .catch((err: unknown) => { throw timeout.aborted && !signal.aborted ? timedOut() : err })
    const plan = this.#plan(job, resolved, uploaded)
    const tracker = new ProgressTracker(plan.graph)
    const follower = new PromptFollower({
      http: this.#http,
      socket: this.#socket,
      promptId,
      tracker,
      onProgress,
      pollMs: this.#o.pollMs,
      giveUpMs: this.#o.giveUpMs,
      log
    })
    let posted = false
    try {
      const refused = await this.#handoff.submit(plan, promptId, stop, log, () => { posted = true })
      if (refused !== null) {
        await this.#handoff.stop(promptId, follower, log)
        throw refused
      }
      const entry = await follower.finished(stop)
      const failure = historyError(entry)
      if (failure !== null) throw failure
      const outputs = await fetchOutputs(this.#http, entry, plan.outputs)
      log.info({ outputs: outputs.length }, 'ComfyUI run finished')
      return { outputs, metadata: { engine: 'comfyui', comfyui_url: this.#o.url, prompt_id: promptId, ...plan.metadata } }
    } catch (err) {
      if (stop.aborted && posted) await this.#handoff.stop(promptId, follower, log)
      if (timeout.aborted && !signal.aborted) throw timedOut()
      throw err
    } finally {
      follower.close()
    }
  }

  /**
   * The graph a job sends: its template (checked by #resolve) with the job's values and uploaded inputs
   * in it, or the client's raw graph as given but for the files of its loaders the job sent.
   */
  #plan (job: QueuedJob, resolved: Resolved | null, uploaded: UploadedInputs): RunPlan {
    if (resolved === null) {
      if (typeof job.graph !== 'object' || job.graph === null || Object.keys(job.graph).length === 0) throw new UnsupportedJobError('the job\'s raw graph is not an API-format graph')
      const graph = structuredClone(job.graph)
      for (const { name, node, input } of rawGraphInputs(graph)) {
        const file = uploaded[name]?.[0]
        if (file !== undefined) graph[node].inputs[input] = file
      }
      return { graph, workflow: RAW_GRAPH_WORKFLOW, outputs: null, modelInputs: [], metadata: { workflow: RAW_GRAPH_WORKFLOW, nodes: Object.keys(graph).length } }
    }
    const { template, model } = resolved
    return {
      graph: injectJob(template, job, model.file, uploaded),
      workflow: template.name,
      outputs: template.outputs,
      modelInputs: template.inputs.model ?? [],
      metadata: {
        workflow: template.name,
        model: job.model,
        model_file: model.file,
        seed: job.params.seed,
        width: job.params.width,
        height: job.params.height,
        batch_size: job.params.batch_size
      }
    }
  }

  #resolve (job: QueuedJob): Resolved {
    const template = this.#o.templates.get(job.workflow)
    if (template === undefined) {
      throw new UnsupportedJobError(`workflow ${JSON.stringify(job.workflow)} has no template on this worker (templates: ${[...this.#o.templates.keys()].join(', ')})`)
    }
    const model = resolveModel(template, job.model)
    if (model === undefined) {
      throw new UnsupportedJobError(`workflow ${template.name} does not take model ${JSON.stringify(job.model)} (it takes: ${Object.keys(template.models).join(', ')})`)
    }
    const p = job.params
    for (const [name, value, min, max] of [
      ['width', p?.width, 16, 16384],
      ['height', p?.height, 16, 16384],
      ['seed', p?.seed, 0, MAX_SEED],
      ['batch_size', p?.batch_size, 1, MAX_BATCH_SIZE]
    ] as const) {
      if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
        throw new UnsupportedJobError(`params.${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`)
      }
    }
    if (typeof job.prompt !== 'string') throw new UnsupportedJobError('prompt must be a string')
    for (const input of template.declaration.inputs) {
      const value = job.inputs?.[input.name]
      const given = value === undefined ? 0 : Array.isArray(value) ? value.length : 1
      if (given < input.min || given > input.max) throw new UnsupportedJobError(`input ${input.name} takes ${input.min}..${input.max} files, the job has ${given}`)
    }
    return { template, model }
  }
}
