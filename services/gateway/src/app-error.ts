import { ERRORS, type ErrorCode } from '@comfy-jobs/contracts'

/** An error with a stable code from the catalogue in @comfy-jobs/contracts; the error handler renders it. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details?: unknown
  readonly extra: Record<string, unknown>
  readonly headers: Record<string, string>

  constructor (code: ErrorCode, opts: { details?: unknown, extra?: Record<string, unknown>, headers?: Record<string, string>, cause?: unknown } = {}) {
    super(ERRORS[code].error, { cause: opts.cause })
    this.name = 'AppError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.details = opts.details
    this.extra = opts.extra ?? {}
    this.headers = opts.headers ?? {}
  }

  body (): Record<string, unknown> {
    const entry = ERRORS[this.code] as { error: string, message?: string }
    return {
      error: entry.error,
      code: this.code,
      ...(entry.message ? { message: entry.message } : {}),
      ...this.extra,
      ...(this.details !== undefined ? { details: this.details } : {})
    }
  }
}
