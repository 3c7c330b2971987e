/** One Server-Sent Events message, or a comment line (`: keep-alive`). */
export type SseItem =
  | { type: 'message', event: string, id: string | null, data: string }
  | { type: 'comment', text: string }

/**
 * Parses an event stream as the HTML spec says: lines end with CRLF, LF or CR; a blank line
 * dispatches the message; `data` lines join with newlines; `event` defaults to "message".
 */
export async function * readSse (body: AsyncIterable<Uint8Array>): AsyncGenerator<SseItem> {
  const decoder = new TextDecoder()
  let buffer = ''
  let event = ''
  let id: string | null = null
  let data: string[] = []
  let pendingCr = false
  for await (const chunk of body) {
    let text = decoder.decode(chunk, { stream: true })
    if (pendingCr && text.startsWith('\n')) text = text.slice(1)
    pendingCr = text.endsWith('\r')
    buffer += text
    const lines = buffer.split(/\r\n|\r|\n/)
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) yield { type: 'message', event: event || 'message', id, data: data.join('\n') }
        event = ''
        data = []
        continue
      }
      if (line.startsWith(':')) {
        yield { type: 'comment', text: line.slice(1).trim() }
        continue
      }
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = value
      else if (field === 'data') data.push(value)
      else if (field === 'id') id = value
    }
  }
}
