import { readSse, type SseItem } from '@comfy-jobs/cli/sse-reader'

/** One message; `id` is the raw SSE id (`<epoch>.<seq>`), split into `epoch` and `seq`. */
export interface SseMessage { event: string, id: string, epoch: string, seq: number, data: any }

export interface EventStream {
  status: number
  headers: Headers
  /** the JSON body of a non-stream answer (404, 400) */
  body: any
  items: AsyncGenerator<SseItem>
  close: () => void
}

/** Opens GET /api/jobs/:id/events like a browser would, optionally resuming. */
export async function openEvents (baseUrl: string, jobId: string, opts: { lastEventId?: string, query?: string } = {}): Promise<EventStream> {
  const abort = new AbortController()
  const headers: Record<string, string> = { accept: 'text/event-stream' }
  if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId
  const res = await fetch(`${baseUrl}/api/jobs/${jobId}/events${opts.query ?? ''}`, { headers, signal: abort.signal })
  const isStream = res.status === 200 && res.body
  const body = isStream || res.status === 204 ? null : await res.json()
  const items = isStream ? readSse(res.body!) : (async function * () {})()
  return { status: res.status, headers: res.headers, body, items, close: () => abort.abort() }
}

/** Reads messages until `stop` says so or the stream ends; keep-alive comments are counted apart. */
export async function readMessages (stream: EventStream, stop: (m: SseMessage, all: SseMessage[]) => boolean = () => false, timeoutMs = 60_000): Promise<{ messages: SseMessage[], comments: string[], ended: boolean }> {
  const messages: SseMessage[] = []
  const comments: string[] = []
  const timer = setTimeout(() => stream.close(), timeoutMs)
  try {
    for (;;) {
      const next = await stream.items.next()
      if (next.done) return { messages, comments, ended: true }
      const item = next.value
      if (item.type === 'comment') { comments.push(item.text); continue }
      const [epoch, seq] = (item.id ?? '').split('.')
      const message = { event: item.event, id: item.id ?? '', epoch, seq: Number(seq), data: JSON.parse(item.data) }
      messages.push(message)
      if (stop(message, messages)) return { messages, comments, ended: false }
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw new Error(`event stream read timed out or was closed after ${messages.length} messages`)
    throw err
  } finally {
    clearTimeout(timer)
  }
}
