import type { Logger } from 'pino'
import type { EngineProgress } from '../engine.ts'
import { ComfyHttpError, ComfyUnreachableError, type ComfyHttpClient, type HistoryEntry } from './comfy-http.ts'
import { ComfyJobError } from './comfy-errors.ts'
import type { ComfyMessage, ComfySocket } from './comfy-socket.ts'
import type { ProgressTracker } from './progress-tracker.ts'

/** Times a prompt must be in neither /history nor /queue before it counts as lost (one look can race its end). */
const LOST_AFTER_LOOKS = 2

export interface PromptFollowerOptions {
  http: ComfyHttpClient
  socket: ComfySocket
  promptId: string
  tracker: ProgressTracker
  onProgress: (progress: EngineProgress) => void
  pollMs: number
  giveUpMs: number
  log: Logger
}

/**
 * Follows one prompt to its history entry. The socket gives live progress and a quick "done"; polling
 * /history (and /queue) gives the end even when the socket was silent or down, and notices a prompt
 * that ComfyUI lost (restarted) or an unreachable ComfyUI. Listen before submitting, so no frame of
 * the prompt is missed.
 */
export class PromptFollower {
  readonly #o: PromptFollowerOptions
  readonly #unlisten: () => void
  #wake: (() => void) | null = null
  #woken = false
  /** the prompt is known to run in ComfyUI (execution_start seen, or found in queue_running) */
  running = false

  constructor (options: PromptFollowerOptions) {
    this.#o = options
    this.#unlisten = options.socket.listen(options.promptId, message => this.#onMessage(message))
  }

  close (): void {
    this.#unlisten()
  }

  #onMessage ({ type, data }: ComfyMessage): void {
    const { tracker } = this.#o
    switch (type) {
      case 'execution_start':
        this.running = true
        return
      case 'execution_cached':
        tracker.cached(Array.isArray(data.nodes) ? data.nodes.map(String) : [])
        break
      case 'executing':
        if (data.node === null || data.node === undefined) {
          tracker.executing(null)
          this.#poke() // the history entry is written before this frame
          return
        }
        tracker.executing(String(data.node))
        break
      case 'progress':
        tracker.progress(String(data.node), Number(data.value), Number(data.max))
        break
      case 'executed':
        tracker.executed(String(data.node))
        break
      case 'execution_success':
      case 'execution_error':
      case 'execution_interrupted':
        this.#poke()
        return
      default:
        return
    }
    const progress = tracker.snapshot()
    if (progress !== null) this.#o.onProgress(progress)
  }

  #poke (): void {
    this.#woken = true
    this.#wake?.()
  }

  /** Resolves with the history entry once the prompt ended; rejects when it is lost, unreachable or `signal` aborts. */
  async finished (signal: AbortSignal): Promise<HistoryEntry> {
    const { http, promptId, pollMs, giveUpMs, log } = this.#o
    let missing = 0
    let unreachableSince: number | null = null
    for (;;) {
      signal.throwIfAborted()
      try {
        const entry = await http.history(promptId)
        if (entry !== null) return entry
        const queue = await http.queue()
        if (queue.running.includes(promptId)) this.running = true
        if (queue.running.includes(promptId) || queue.pending.includes(promptId)) {
          missing = 0
        } else if (++missing >= LOST_AFTER_LOOKS) {
          throw new ComfyJobError(`ComfyUI lost prompt ${promptId}: it is in neither /history nor /queue (ComfyUI restarted or the queue was cleared)`)
        }
        if (unreachableSince !== null) log.info('ComfyUI answers again')
        unreachableSince = null
      } catch (err) {
        if (!(err instanceof ComfyUnreachableError) && !(err instanceof ComfyHttpError)) throw err
        const first = unreachableSince === null
        unreachableSince ??= Date.now()
        const down = Date.now() - unreachableSince
        if (down >= giveUpMs) throw new ComfyJobError(`${err.message}; gave up after ${down} ms of retries`)
        log[first ? 'warn' : 'debug']({ err: err.message, down_ms: down }, 'cannot reach ComfyUI while following the prompt; retrying')
      }
      await this.#sleep(pollMs, signal)
    }
  }

  /** Waits pollMs, or less when a socket frame says the end has come. */
  async #sleep (ms: number, signal: AbortSignal): Promise<void> {
    if (this.#woken) { this.#woken = false; return }
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#wake = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      this.#wake = done
    })
    this.#woken = false
  }
}
