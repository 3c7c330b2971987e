import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import WebSocket from 'ws'

export interface ComfyMessage {
  type: string
  data: Record<string, any>
}

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 2000

/**
 * The engine's one `/ws?clientId=` connection. Its client id is its own (a second socket with the same
 * id would silently take the frames), and it is kept across reconnects so ComfyUI keeps addressing
 * our prompts to it. Text frames are handed to the listener of the prompt they name; frames sent while
 * disconnected are lost, which is why runs also poll /history.
 */
export class ComfySocket {
  readonly clientId: string
  readonly #url: string
  readonly #log: Logger
  readonly #listeners = new Map<string, (message: ComfyMessage) => void>()
  #socket: WebSocket | null = null
  #running = false
  #backoff = BACKOFF_MIN_MS
  #retryTimer: NodeJS.Timeout | null = null
  #failures = 0

  constructor (baseUrl: string, workerId: string, logger: Logger) {
    this.clientId = `comfy-jobs-${workerId}-${randomUUID().slice(0, 8)}`
    this.#url = `${baseUrl.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(this.clientId)}`
    this.#log = logger.child({ component: 'comfy-socket', client_id: this.clientId })
  }

  get connected (): boolean {
    return this.#socket?.readyState === WebSocket.OPEN
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    this.#connect()
  }

  stop (): void {
    this.#running = false
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#socket?.terminate()
    this.#socket = null
  }

  /** Reconnects now instead of waiting out the backoff (e.g. when ComfyUI came back). */
  reconnectSoon (): void {
    if (!this.#running || this.#socket !== null) return
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer)
    this.#backoff = BACKOFF_MIN_MS
    this.#connect()
  }

  /** Routes the frames naming promptId to fn until the returned function is called. */
  listen (promptId: string, fn: (message: ComfyMessage) => void): () => void {
    this.#listeners.set(promptId, fn)
    return () => { if (this.#listeners.get(promptId) === fn) this.#listeners.delete(promptId) }
  }

  #connect (): void {
    this.#retryTimer = null
    if (!this.#running) return
    const socket = new WebSocket(this.#url, { handshakeTimeout: 5000 })
    this.#socket = socket
    socket.on('open', () => {
      this.#log.info({ reconnected: this.#failures > 0 }, 'ComfyUI socket open')
      this.#backoff = BACKOFF_MIN_MS
      this.#failures = 0
    })
    socket.on('message', (data, isBinary) => {
      if (isBinary) return // previews; the engine uses saved outputs only
      let message: ComfyMessage
      try { message = JSON.parse(data.toString()) } catch { return }
      // The reconnect `executing` frame carries no prompt_id; it is not needed, /history tells the end.
      const promptId = message?.data?.prompt_id
      if (typeof promptId === 'string') this.#listeners.get(promptId)?.(message)
    })
    socket.on('error', err => {
      const level = this.#failures === 0 ? 'warn' : 'debug'
      this.#log[level]({ err: err.message }, 'ComfyUI socket error')
    })
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = null
      if (!this.#running) return
      this.#failures++
      this.#retryTimer = setTimeout(() => this.#connect(), this.#backoff)
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS)
    })
  }
}
