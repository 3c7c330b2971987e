/** Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export function sseFrame (event: string, id: string, data: unknown): string {
  return `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`
}

export const SSE_KEEP_ALIVE = ': keep-alive\n\n'

/** Tells EventSource how long to wait before it reconnects after a dropped stream. */
export const SSE_RETRY = 'retry: 1000\n\n'
