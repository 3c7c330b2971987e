import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ancestors, type ApiGraph } from '@comfy-jobs/contracts'
import { ComfyHttpError, ComfyUnreachableError, type ComfyHttpClient } from './comfy-http.ts'
import { ComfyJobError, droppedOutputsError, validationError } from './comfy-errors.ts'
import type { ComfySocket } from './comfy-socket.ts'
import type { PromptFollower } from './prompt-follower.ts'
import type { InputTarget } from './workflow-template.ts'

/** How long a cancelled or timed-out prompt gets to leave ComfyUI's queue before we stop waiting. */
const STOP_SETTLE_MS = 5000
const SUBMIT_BACKOFF_MAX_MS = 2000

/** What a run sends to ComfyUI and how its answer is read. */
export interface RunPlan {
  graph: ApiGraph
  /** the template's name, or raw_graph */
  workflow: string
  /** the nodes whose files are the job's outputs; null: every node ComfyUI lists outputs for */
  outputs: string[] | null
  /** where the model file goes, to say "missing model" when ComfyUI lacks it */
  modelInputs: InputTarget[]
  metadata: Record<string, unknown>
}

export interface PromptHandoffOptions {
  http: ComfyHttpClient
  socket: ComfySocket
  /** how long to keep retrying an unreachable ComfyUI */
  giveUpMs: number
}

/**
 * A job's prompt into ComfyUI and, when the job is cancelled, times out or is refused, out of it again;
 * with what the real server does in mind (a duplicate prompt_id runs twice, a 200 can drop outputs, an
 * interrupt lands only as the next node starts).
 */
export class PromptHandoff {
  readonly #o: PromptHandoffOptions

  constructor (options: PromptHandoffOptions) {
    this.#o = options
  }

  /**
   * Hands the prompt to ComfyUI, retrying while ComfyUI is unreachable (up to giveUpMs). First it
   * looks for the prompt in /history and /queue: a re-run after a worker crash, or a retry of a
   * request that timed out, adopts the run ComfyUI already has instead of starting it again (ComfyUI
   * would run a duplicate prompt_id twice). A 400 is the job's failure, naming node, input and
   * reason. Resolves with null once ComfyUI runs the prompt for the job, or with the job's failure
   * when ComfyUI queued it but dropped one of the template's own outputs (the caller takes it out of
   * ComfyUI). `onPost` marks that ComfyUI may have the prompt from here on.
   */
  async submit (plan: RunPlan, promptId: string, stop: AbortSignal, log: Logger, onPost: () => void): Promise<ComfyJobError | null> {
    const started = Date.now()
    let backoff = 200
    for (;;) {
      stop.throwIfAborted()
      try {
        const known = await this.#knows(promptId)
        if (known !== null) {
          onPost()
          log.info({ found_in: known }, 'ComfyUI already has this prompt; following that run instead of queueing it again')
          return null
        }
        onPost()
        const answer = await this.#o.http.queuePrompt({ prompt: plan.graph, client_id: this.#o.socket.clientId, prompt_id: promptId })
        if (!answer.accepted) {
          log.warn({ comfy_error: answer.body?.error, node_errors: answer.body?.node_errors }, 'ComfyUI rejected the workflow')
          throw validationError(answer.body, plan.modelInputs)
        }
        log.info({ number: answer.number, socket: this.#o.socket.connected }, 'prompt queued in ComfyUI')
        return this.#droppedOutputs(plan, answer.node_errors, log)
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

  /**
   * POST /prompt answered 200 with node_errors: ComfyUI runs the outputs that validated and drops the
   * others. Only the errors on which one of the template's own outputs depends fail the job; an
   * invalid branch the job does not use is logged and left out. Every output of a raw graph is the job's.
   */
  #droppedOutputs (plan: RunPlan, nodeErrors: Record<string, unknown>, log: Logger): ComfyJobError | null {
    if (Object.keys(nodeErrors).length === 0) return null
    const { graph, outputs } = plan
    const needed = new Set(outputs === null ? Object.keys(graph) : outputs.flatMap(output => [...ancestors(graph, output)]))
    const ours = Object.fromEntries(Object.entries(nodeErrors).filter(([node]) => needed.has(node)))
    if (Object.keys(ours).length === 0) {
      log.warn({ node_errors: nodeErrors }, 'ComfyUI dropped output nodes the job does not use; the job\'s outputs run')
      return null
    }
    log.warn({ node_errors: ours }, 'ComfyUI queued the prompt without the job\'s own outputs; taking it out of ComfyUI')
    return droppedOutputsError(ours, plan.modelInputs)
  }

  /** Where ComfyUI holds the prompt: its history, its queue, or nowhere (null). */
  async #knows (promptId: string): Promise<'history' | 'queue' | null> {
    if (await this.#o.http.history(promptId) !== null) return 'history'
    const queue = await this.#o.http.queue()
    return queue.running.includes(promptId) || queue.pending.includes(promptId) ? 'queue' : null
  }

  /**
   * Takes a cancelled or timed-out prompt out of ComfyUI: deleted from the queue while pending,
   * interrupted (by prompt id, so nothing else is hit) once running. Waits a bounded time for it to go.
   */
  async stop (promptId: string, follower: PromptFollower, log: Logger): Promise<void> {
    try {
      if (!follower.running) {
        await this.#o.http.deleteFromQueue([promptId])
        const queue = await this.#o.http.queue()
        if (!queue.running.includes(promptId)) {
          log.info('prompt deleted from the ComfyUI queue before it ran')
          return
        }
      }
      await this.#o.http.interrupt(promptId)
      log.info('running prompt interrupted in ComfyUI')
      const deadline = Date.now() + STOP_SETTLE_MS
      while (Date.now() < deadline) {
        const queue = await this.#o.http.queue()
        if (!queue.running.includes(promptId) && !queue.pending.includes(promptId)) return
        await sleep(100)
      }
      log.warn({ waited_ms: STOP_SETTLE_MS }, 'the interrupted prompt is still in ComfyUI\'s queue')
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not stop the prompt in ComfyUI')
    }
  }
}
