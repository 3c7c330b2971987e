import { request } from 'node:http'

export interface EarlyAnswer { status: number, headers: Record<string, string | string[] | undefined>, body: any }

/** How long a large body's headers wait alone for an answer before the body follows. */
const EARLY_ANSWER_WAIT_MS = 5000
/** Bodies at least this large are held back until the server has had its chance to refuse them. */
const LARGE = 64 * 1024

/**
 * POST a body the server may refuse on its Content-Length alone (413) before reading it. The server
 * then answers and closes; had the client gone on writing, the close would reset the connection and
 * could discard the answer before it was read (undici's fetch reports "fetch failed", a plain write
 * EPIPE). So a large body's headers go first and the body follows only if no answer came meanwhile,
 * as a client using `Expect: 100-continue` would do. Small bodies go at once.
 */
export function postWithEarlyAnswer (url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<EarlyAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false
    let timer: NodeJS.Timeout | undefined
    const req = request(url, { method: 'POST', headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, res => {
      answered = true
      clearTimeout(timer)
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let parsed: any = text
        try { parsed = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed })
        req.destroy()
      })
    })
    req.on('error', err => { if (!answered) reject(err) })
    if (Buffer.byteLength(body) < LARGE) {
      req.end(body)
      return
    }
    req.flushHeaders()
    timer = setTimeout(() => { if (!answered) req.end(body) }, EARLY_ANSWER_WAIT_MS)
  })
}
