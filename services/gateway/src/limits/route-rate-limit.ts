import type { ErrorCode } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'

/**
 * A route's own per-minute limit (@fastify/rate-limit route config), refused with the catalogue's
 * `code`, naming the setting, with Retry-After; 0 turns it off.
 */
export function perMinuteLimit (perMinute: number, code: ErrorCode, what: string, setting: string): Record<string, unknown> {
  if (perMinute <= 0) return {}
  return {
    rateLimit: {
      max: perMinute,
      timeWindow: '1 minute',
      errorResponseBuilder: (_request: unknown, context: { ttl: number }) => new AppError(code, {
        details: `at most ${perMinute} ${what} per minute (${setting})`,
        headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) }
      })
    }
  }
}
