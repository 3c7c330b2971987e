import * as grpc from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { ErrorCode } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { CallEndedError } from './call-signal.ts'

/** Every code of the error catalogue as a gRPC status; a new code without a row here does not compile. */
export const GRPC_STATUS_OF: Record<ErrorCode, grpc.status> = {
  VALIDATION: grpc.status.INVALID_ARGUMENT,
  QUEUE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  JOB_CREATE_FAILED: grpc.status.INTERNAL,
  OVERLOADED: grpc.status.RESOURCE_EXHAUSTED,
  DATABASE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  OUTCOME_UNKNOWN: grpc.status.UNAVAILABLE,
  IDEMPOTENCY_CONFLICT: grpc.status.ALREADY_EXISTS,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  CROSS_SITE_REFUSED: grpc.status.PERMISSION_DENIED,
  QUEUE_FULL: grpc.status.RESOURCE_EXHAUSTED,
  TOO_MANY_UPLOADS: grpc.status.RESOURCE_EXHAUSTED,
  TOO_MANY_LIVE_JOBS: grpc.status.RESOURCE_EXHAUSTED,
  UPLOAD_QUOTA_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  UPLOAD_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_UPLOAD_TYPE: grpc.status.INVALID_ARGUMENT,
  JOB_NOT_FOUND: grpc.status.NOT_FOUND,
  JOB_NOT_CANCELLABLE: grpc.status.FAILED_PRECONDITION,
  EVENTS_UNAVAILABLE: grpc.status.UNAVAILABLE,
  NOT_FOUND: grpc.status.NOT_FOUND,
  FORBIDDEN_PATH: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  MISSING_SCOPE: grpc.status.PERMISSION_DENIED,
  AUTH_UNAVAILABLE: grpc.status.UNAVAILABLE,
  SESSIONS_UNAVAILABLE: grpc.status.UNAVAILABLE,
  EMAIL_TAKEN: grpc.status.ALREADY_EXISTS,
  INVALID_CREDENTIALS: grpc.status.UNAUTHENTICATED,
  TOO_MANY_LOGINS: grpc.status.RESOURCE_EXHAUSTED,
  TOO_MANY_REGISTRATIONS: grpc.status.RESOURCE_EXHAUSTED,
  REGISTRATION_CLOSED: grpc.status.PERMISSION_DENIED,
  SESSION_REQUIRED: grpc.status.UNAUTHENTICATED,
  PAYLOAD_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  UNSUPPORTED_MEDIA_TYPE: grpc.status.INVALID_ARGUMENT,
  INTERNAL: grpc.status.INTERNAL
}

const ENDED: Readonly<Record<CallEndedError['why'], Readonly<Partial<grpc.StatusObject>>>> = {
  cancelled: { code: grpc.status.CANCELLED, details: 'the call was cancelled' },
  deadline: { code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' },
  shutdown: { code: grpc.status.UNAVAILABLE, details: 'the gateway is shutting down' }
}

/** Trailer with the catalogue code, so a caller can tell e.g. QUEUE_UNAVAILABLE from other UNAVAILABLEs. */
export const APP_ERROR_CODE_KEY = 'app-error-code'
/** Trailer with the job an error is about (e.g. the job of an OUTCOME_UNKNOWN submit). */
export const JOB_ID_KEY = 'job-id'

/**
 * Renders an error for a gRPC caller: an AppError as its status, its text (the same as REST's `error`,
 * plus `message` where the catalogue has one) and its headers as trailers; a call that ended early as
 * its reason; anything else is logged and becomes INTERNAL.
 */
export function toServiceError (err: unknown, log: Logger): Partial<grpc.StatusObject> {
  if (err instanceof CallEndedError) return { ...ENDED[err.why] } // a copy: callers add to the details
  const appError = err instanceof AppError ? err : null
  if (appError === null) log.error({ err }, 'unhandled error in a gRPC call')
  else if (appError.cause !== undefined && appError.statusCode >= 500) log.warn({ code: appError.code, cause: (appError.cause as Error)?.message ?? String(appError.cause) }, 'call failed')
  const e = appError ?? new AppError('INTERNAL')
  const body = e.body() as { error: string, message?: string }
  const metadata = new grpc.Metadata()
  metadata.set(APP_ERROR_CODE_KEY, e.code)
  for (const [name, value] of Object.entries(e.headers)) metadata.set(name, value)
  if (typeof e.extra.job_id === 'string') metadata.set(JOB_ID_KEY, e.extra.job_id)
  return {
    code: GRPC_STATUS_OF[e.code],
    details: body.message ? `${body.error}: ${body.message}` : body.error,
    metadata
  }
}
