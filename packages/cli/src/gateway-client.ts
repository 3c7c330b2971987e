import { isTerminal, type JobEventData, type StatusResponse } from '@comfy-jobs/contracts'
import { readSse } from './sse-reader.ts'

export class GatewayError extends Error {
  constructor (message: string, readonly status?: number, readonly body?: unknown) {
    super(message)
    this.name = 'GatewayError'
  }
}

export type JobUpdate = (StatusResponse | JobEventData) & { status: string }

const RECONNECT_MS = 1000
const MAX_RECONNECTS = 30

/** The REST and SSE calls the CLI makes, against one gateway base URL. */
export class GatewayClient {
  readonly #base: URL
  /** `Authorization: Bearer <key>` when an API key is given */
  readonly #auth: Record<string, string>

  constructor (baseUrl: string, apiKey?: string) {
    this.#base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`)
    this.#auth = apiKey ? { authorization: `Bearer ${apiKey}` } : {}
  }

  #url (path: string): URL {
    return new URL(path.replace(/^\/+/, ''), this.#base) // relative: works behind a path prefix
  }

  async #fetch (path: string, init?: RequestInit): Promise<Response> {
    try {
      return await fetch(this.#url(path), { ...init, headers: { ...this.#auth, ...init?.headers as Record<string, string> }, signal: init?.signal ?? AbortSignal.timeout(30_000) })
    } catch (err) {
      throw new GatewayError(`cannot reach the gateway at ${this.#base.href}: ${(err as Error).cause ?? (err as Error).message}`)
    }
  }

  async submit (body: Record<string, unknown>): Promise<string> {
    const res = await this.#fetch('api/generate', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const json = await res.json().catch(() => ({})) as { job_id?: string, error?: string }
    if (!res.ok || !json.job_id) throw new GatewayError(json.error ?? `submit failed with HTTP ${res.status}`, res.status, json)
    return json.job_id
  }

  /**
   * Every update of a job until it ends: the snapshot, then each event. A dropped stream, or one the
   * gateway could not serve for a moment (503: its Redis is away), is resumed with Last-Event-ID, so
   * nothing is missed; after Redis lost the job's history the gateway starts again with a snapshot.
   */
  async * watch (jobId: string): AsyncGenerator<JobUpdate> {
    let lastId: string | null = null
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...this.#auth, accept: 'text/event-stream' }
      if (lastId !== null) headers['last-event-id'] = lastId
      let res: Response
      try {
        res = await fetch(this.#url(`api/jobs/${encodeURIComponent(jobId)}/events`), { headers })
      } catch (err) {
        if (attempt >= MAX_RECONNECTS) throw new GatewayError(`event stream unavailable: ${(err as Error).message}`)
        await new Promise(resolve => setTimeout(resolve, RECONNECT_MS))
        continue
      }
      if (res.status === 204) return
      if (res.status === 503 && attempt < MAX_RECONNECTS) {
        await res.body?.cancel()
        await new Promise(resolve => setTimeout(resolve, RECONNECT_MS))
        continue
      }
      if (!res.ok || !res.body) {
        const body = await res.json().catch(() => ({})) as { error?: string }
        throw new GatewayError(body.error ?? `event stream failed with HTTP ${res.status}`, res.status, body)
      }
      try {
        for await (const item of readSse(res.body)) {
          if (item.type !== 'message' || item.event === 'error') continue
          if (item.id !== null) lastId = item.id
          const update = JSON.parse(item.data) as JobUpdate
          yield update
          if (isTerminal(update.status)) return
        }
      } catch {
        // the connection dropped mid-stream: resume below
      }
      if (attempt >= MAX_RECONNECTS) throw new GatewayError('event stream kept dropping; giving up')
      await new Promise(resolve => setTimeout(resolve, RECONNECT_MS))
    }
  }

  /** POST /api/upload; the stored upload's name. */
  async upload (data: Buffer, filename: string): Promise<string> {
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(data)]), filename)
    const res = await this.#fetch('api/upload', { method: 'POST', body: form })
    const json = await res.json().catch(() => ({})) as { name?: string, error?: string, details?: unknown }
    if (!res.ok || !json.name) throw new GatewayError(`upload of ${filename} refused: ${json.error ?? `HTTP ${res.status}`}${typeof json.details === 'string' ? ` (${json.details})` : ''}`, res.status, json)
    return json.name
  }

  async download (path: string): Promise<Buffer> {
    const res = await this.#fetch(path)
    if (!res.ok) throw new GatewayError(`download of ${path} failed with HTTP ${res.status}`, res.status)
    return Buffer.from(await res.arrayBuffer())
  }
}
