import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { guardedLookup } from './address-guard.ts'

export interface SendResult {
  /** the receiver's status code; null when no answer came (refused address, connect error, timeout) */
  status: number | null
  error: string | null
}

const MAX_ANSWER_BYTES = 64 * 1024

/**
 * One POST of a webhook: no redirects followed (a 3xx is an answer, and not a success), the whole
 * attempt bounded by `timeoutMs`, and the address checked as it is connected to (guardedLookup).
 */
export function sendWebhook (url: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number, allowPrivate: boolean }): Promise<SendResult> {
  return new Promise(resolve => {
    const target = new URL(url)
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(target, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'comfy-jobs-webhooks' },
      lookup: guardedLookup(opts.allowPrivate) as never,
      agent: false
    })
    let settled = false
    const finish = (result: SendResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      request.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => finish({ status: null, error: `no answer within ${opts.timeoutMs} ms` }), opts.timeoutMs)
    request.on('response', response => {
      let read = 0
      response.on('data', (chunk: Buffer) => { read += chunk.length; if (read > MAX_ANSWER_BYTES) finish({ status: response.statusCode ?? null, error: null }) })
      response.on('end', () => finish({ status: response.statusCode ?? null, error: null }))
      response.on('error', () => finish({ status: response.statusCode ?? null, error: null }))
    })
    request.on('error', err => finish({ status: null, error: err.message.slice(0, 400) }))
    request.end(body)
  })
}
