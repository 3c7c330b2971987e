import type { ApiGraph } from '@comfy-jobs/contracts'

/** ComfyUI's HTTP API (see shared/reference/comfyui-protocol.md), one method per route the engine uses. */

export interface ComfyImageRef {
  filename: string
  subfolder: string
  type: string
}

/** A node's UI output in /history: media lists under `images` (animated: video), `gifs`, `audio`, … */
export type NodeOutput = Record<string, unknown> & { images?: ComfyImageRef[], animated?: boolean[] }

export interface HistoryEntry {
  outputs: Record<string, NodeOutput>
  status: { status_str: string, completed: boolean, messages: Array<[string, Record<string, any>]> }
}

export type { ApiGraph } from '@comfy-jobs/contracts'

export type QueuePromptAnswer =
  | { accepted: true, prompt_id: string, number: number, node_errors: Record<string, unknown> }
  | { accepted: false, status: number, body: any }

export interface QueueState {
  running: string[]
  pending: string[]
}

/** The server could not be reached (refused, reset, timed out): worth retrying. */
export class ComfyUnreachableError extends Error {
  constructor (readonly url: string, cause: unknown) {
    super(`ComfyUI at ${url} is unreachable: ${describeCause(cause)}`, { cause })
    this.name = 'ComfyUnreachableError'
  }
}

/** The server answered with a status the route does not expect. */
export class ComfyHttpError extends Error {
  constructor (readonly method: string, readonly path: string, readonly status: number, body: string) {
    super(`ComfyUI ${method} ${path} answered ${status}${body ? `: ${body.slice(0, 300)}` : ''}`)
    this.name = 'ComfyHttpError'
  }
}

function describeCause (cause: unknown): string {
  const err = cause as { name?: string, message?: string, cause?: { code?: string, message?: string } }
  if (err?.name === 'TimeoutError') return 'no answer in time'
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(cause)
}

export class ComfyHttpClient {
  readonly baseUrl: string
  readonly #timeoutMs: number

  constructor (baseUrl: string, requestTimeoutMs = 10_000) {
    this.baseUrl = baseUrl
    this.#timeoutMs = requestTimeoutMs
  }

  async #fetch (method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(body instanceof FormData ? { body } : body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {})
      })
    } catch (err) {
      throw new ComfyUnreachableError(this.baseUrl, err)
    }
  }

  async #expectOk (method: string, path: string, body?: unknown): Promise<Response> {
    const res = await this.#fetch(method, path, body)
    if (!res.ok) throw new ComfyHttpError(method, path, res.status, await res.text().catch(() => ''))
    return res
  }

  async #json<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#expectOk(method, path, body)
    try {
      return await res.json() as T
    } catch (err) {
      throw new ComfyUnreachableError(this.baseUrl, err)
    }
  }

  systemStats (): Promise<Record<string, any>> {
    return this.#json('GET', '/system_stats')
  }

  /** `/object_info/{class}` (`{}` for an unknown class), or every class without one. */
  objectInfo (classType?: string): Promise<Record<string, any>> {
    return this.#json('GET', classType === undefined ? '/object_info' : `/object_info/${encodeURIComponent(classType)}`)
  }

  /** POST /prompt; a 400 (validation) is an answer, not an exception. */
  async queuePrompt (body: { prompt: ApiGraph, client_id: string, prompt_id: string }): Promise<QueuePromptAnswer> {
    const res = await this.#fetch('POST', '/prompt', body)
    const text = await res.text().catch(() => '')
    let json: any = null
    try { json = JSON.parse(text) } catch {}
    if (res.status === 200 && json !== null) return { accepted: true, prompt_id: json.prompt_id, number: json.number, node_errors: json.node_errors ?? {} }
    if (res.status === 400 && json !== null) return { accepted: false, status: 400, body: json }
    throw new ComfyHttpError('POST', '/prompt', res.status, text)
  }

  /** The finished prompt's history entry, or null while it is pending, running or unknown. */
  async history (promptId: string): Promise<HistoryEntry | null> {
    const all = await this.#json<Record<string, HistoryEntry>>('GET', `/history/${encodeURIComponent(promptId)}`)
    return all[promptId] ?? null
  }

  async queue (): Promise<QueueState> {
    const q = await this.#json<{ queue_running: unknown[][], queue_pending: unknown[][] }>('GET', '/queue')
    const ids = (items: unknown[][] | undefined) => (items ?? []).map(item => String(item[1]))
    return { running: ids(q.queue_running), pending: ids(q.queue_pending) }
  }

  async deleteFromQueue (promptIds: string[]): Promise<void> {
    await this.#expectOk('POST', '/queue', { delete: promptIds })
  }

  /** Interrupts the prompt only if it is the one running. */
  async interrupt (promptId: string): Promise<void> {
    await this.#expectOk('POST', '/interrupt', { prompt_id: promptId })
  }

  /**
   * POST /upload/image (ComfyUI's upload for every input file, sounds too) into its input folder under
   * this name, replacing a file of that name: content-addressed names make a re-upload a no-op.
   * Returns the name a loader node takes.
   */
  async uploadInput (name: string, data: Buffer, mime: string): Promise<string> {
    const form = new FormData()
    form.append('image', new Blob([new Uint8Array(data)], { type: mime }), name)
    form.append('type', 'input')
    form.append('overwrite', 'true')
    const answer = await this.#json<{ name?: string, subfolder?: string }>('POST', '/upload/image', form)
    if (typeof answer.name !== 'string' || answer.name === '') throw new ComfyHttpError('POST', '/upload/image', 200, JSON.stringify(answer))
    return answer.subfolder ? `${answer.subfolder}/${answer.name}` : answer.name
  }

  async view (image: ComfyImageRef): Promise<{ data: Buffer, mime: string }> {
    const query = new URLSearchParams({ filename: image.filename, subfolder: image.subfolder ?? '', type: image.type ?? 'output' })
    const res = await this.#expectOk('GET', `/view?${query}`)
    return { data: Buffer.from(await res.arrayBuffer()), mime: res.headers.get('content-type') ?? '' }
  }
}
