import { AppError } from './app-error.ts'
import { MAX_WAIT_SECONDS } from './jobs/job-wait.ts'

/**
 * The seconds a `Prefer` header asks a submit to wait (RFC 7240 `wait`, as Replicate takes it):
 * `wait` alone is the most we wait; `wait=N` N seconds, 1..60. Other preferences are ignored.
 * Undefined when the header asks no wait; a bad N is a 400 naming the header, before anything is written.
 */
export function preferredWait (header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [token, ...rest] = part.split(';')[0].split('=')
    if (token.trim().toLowerCase() !== 'wait') continue
    if (rest.length === 0) return MAX_WAIT_SECONDS
    const value = rest.join('=').trim().replace(/^"(.*)"$/, '$1')
    if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > MAX_WAIT_SECONDS) {
      const details = [{ field: 'prefer', message: `Prefer: wait=N takes N from 1 to ${MAX_WAIT_SECONDS} seconds; got ${JSON.stringify(value)}` }]
      throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
    }
    return Number(value)
  }
  return undefined
}
