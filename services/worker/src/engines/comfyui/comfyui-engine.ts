import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { MAX_BATCH_SIZE, MAX_SEED, type QueuedJob } from '@comfy-jobs/contracts'
import type { WorkflowModels } from '@comfy-jobs/rpc'
import type { WorkerConfig } from '../../config.ts'
import type { Engine, EngineResult, EngineRunOptions } from '../engine.ts'
import { UnsupportedJobError } from '../unsupported-job-error.ts'
import { ComfyHttpClient, ComfyHttpError, ComfyUnreachableError, type ApiGraph } from './comfy-http.ts'
import { ComfyJobError, droppedOutputsError, validationError } from './comfy-errors.ts'
import { ComfySocket } from './comfy-socket.ts'
import { ModelCatalogue } from './model-catalogue.ts'
import { fetchOutputs, historyError } from './outputs.ts'
import { ProgressTracker } from './progress-tracker.ts'
import { PromptFollower } from './prompt-follower.ts'
import { ReadinessMonitor } from './readiness-monitor.ts'
import { injectJob } from './template-injector.ts'
import { loadTemplates } from './template-loader.ts'
import { resolveModel, type WorkflowTemplate } from './workflow-template.ts'

const PROBE_TIMEOUT_MS = 3000
const CATALOGUE_REFRESH_MS = 30_000
/** How long a cancelled or timed-out prompt gets to leave ComfyUI's queue before we stop waiting. */
const STOP_SETTLE_MS = 5000
const SUBMIT_BACKOFF_MAX_MS = 2000

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
  readonly #monitor: ReadinessMonitor
  #refreshTimer: NodeJS.Timeout | null = null

  constructor (options: ComfyEngineOptions) {
    this.#o = options
    const log = options.logger.child({ comfyui_url: options.url })
    this.#http = new ComfyHttpClient(options.url)
    this.#socket = new ComfySocket(options.url, options.workerId, log)
    this.#catalogue = new ModelCatalogue(options.templates, this.#http, log)
    this.#monitor = new ReadinessMonitor({
      http: new ComfyHttpClient(options.url, PROBE_TIMEOUT_MS),
      pollMs: options.pollMs,
      logger: log,
      onUp: async () => {
        this.#socket.reconnectSoon()
        await this.#catalogue.refresh()
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

  async start (): Promise<void> {
    this.#socket.start()
    await this.#monitor.start()
    this.#refreshTimer = setInterval(() => {
      if (this.ready) this.#catalogue.refresh().catch(() => {})
    }, CATALOGUE_REFRESH_MS).unref()
  }

  async stop (): Promise<void> {
    this.#monitor.stop()
    this.#socket.stop()
    if (this.#refreshTimer !== null) clearInterval(this.#refreshTimer)
  }

  totalSteps (job: QueuedJob): number {
    const template = this.#o.templates.get(job.workflow)
    return template ? new ProgressTracker(template.graph).totalSteps : 0
  }

  async run (job: QueuedJob, { signal, onProgress, logger }: EngineRunOptions): Promise<EngineResult> {
    const { template, model } = this.#resolve(job)
    const promptId = job.job_id
    const log = (logger ?? this.#o.logger.child({ job_id: promptId })).child({ prompt_id: promptId, workflow: template.name })
    const graph = injectJob(template, job, model.file)
    const tracker = new ProgressTracker(graph)
    const timeout = AbortSignal.timeout(this.#o.jobTimeoutMs)
    const stop = AbortSignal.any([signal, timeout])
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
      await this.#submit(graph, promptId, template, stop, log, () => { posted = true })
      const entry = await follower.finished(stop)
      const failure = historyError(entry)
      if (failure !== null) throw failure
      const outputs = await fetchOutputs(this.#http, entry, template.outputs)
      log.info({ outputs: outputs.length }, 'ComfyUI run finished')
      return {
        outputs,
        metadata: {
          engine: 'comfyui',
          comfyui_url: this.#o.url,
          prompt_id: promptId,
          workflow: template.name,
          model: job.model,
          model_file: model.file,
          seed: job.params.seed,
          width: job.params.width,
          height: job.params.height,
          batch_size: job.params.batch_size
        }
      }
    } catch (err) {
      if (stop.aborted && posted) await this.#stopInComfy(promptId, follower, log)
      if (timeout.aborted && !signal.aborted) {
        throw new ComfyJobError(`the job timed out after ${this.#o.jobTimeoutMs} ms (JOB_TIMEOUT_MS); it was stopped in ComfyUI`)
      }
      throw err
    } finally {
      follower.close()
    }
  }

  #resolve (job: QueuedJob): { template: WorkflowTemplate, model: { key: string, file: string } } {
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
    return { template, model }
  }

  /**
   * POST /prompt, retrying while ComfyUI is unreachable (up to giveUpMs). A retry first looks for the
   * prompt, since a request that timed out may still have queued it. Resolves true once ComfyUI has
   * it; a 400 is the job's failure, naming node, input and reason. `onPost` marks that ComfyUI may
   * have the prompt from here on (so a cancel must look for it there).
   */
  async #submit (graph: ApiGraph, promptId: string, template: WorkflowTemplate, stop: AbortSignal, log: Logger, onPost: () => void): Promise<void> {
    const started = Date.now()
    let backoff = 200
    let attempted = false
    for (;;) {
      stop.throwIfAborted()
      try {
        if (attempted && await this.#knows(promptId)) return
        attempted = true
        onPost()
        const answer = await this.#http.queuePrompt({ prompt: graph, client_id: this.#socket.clientId, prompt_id: promptId })
        if (!answer.accepted) {
          log.warn({ comfy_error: answer.body?.error, node_errors: answer.body?.node_errors }, 'ComfyUI rejected the workflow')
          throw validationError(answer.body, template.inputs.model ?? [])
        }
        log.info({ number: answer.number, socket: this.#socket.connected }, 'prompt queued in ComfyUI')
        if (Object.keys(answer.node_errors).length > 0) throw droppedOutputsError(answer.node_errors, template.inputs.model ?? [])
        return
      } catch (err) {
        if (!(err instanceof ComfyUnreachableError)) {
          if (err instanceof ComfyHttpError) throw new ComfyJobError(err.message)
          throw err
        }
        const waited = Date.now() - started
        if (waited >= this.#o.giveUpMs) throw new ComfyJobError(`${err.message}; gave up after ${waited} ms of retries`)
        log.warn({ err: err.message, retry_in_ms: backoff }, 'cannot submit to ComfyUI; retrying')
        await sleep(backoff, undefined, { signal: stop }).catch(() => {})
        backoff = Math.min(backoff * 2, SUBMIT_BACKOFF_MAX_MS)
      }
    }
  }

  async #knows (promptId: string): Promise<boolean> {
    if (await this.#http.history(promptId) !== null) return true
    const queue = await this.#http.queue()
    return queue.running.includes(promptId) || queue.pending.includes(promptId)
  }

  /**
   * Takes a cancelled or timed-out prompt out of ComfyUI: deleted from the queue while pending,
   * interrupted (by prompt id, so nothing else is hit) once running. Waits a bounded time for it to go.
   */
  async #stopInComfy (promptId: string, follower: PromptFollower, log: Logger): Promise<void> {
    try {
      if (!follower.running) {
        await this.#http.deleteFromQueue([promptId])
        const queue = await this.#http.queue()
        if (!queue.running.includes(promptId)) {
          log.info('prompt deleted from the ComfyUI queue before it ran')
          return
        }
      }
      await this.#http.interrupt(promptId)
      log.info('running prompt interrupted in ComfyUI')
      const deadline = Date.now() + STOP_SETTLE_MS
      while (Date.now() < deadline) {
        const queue = await this.#http.queue()
        if (!queue.running.includes(promptId) && !queue.pending.includes(promptId)) return
        await sleep(100)
      }
      log.warn({ waited_ms: STOP_SETTLE_MS }, 'the interrupted prompt is still in ComfyUI\'s queue')
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not stop the prompt in ComfyUI')
    }
  }
}
