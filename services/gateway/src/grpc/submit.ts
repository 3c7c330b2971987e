import type * as grpc from '@grpc/grpc-js'
import { GenerateBody, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'
import type { SubmitRequest, SubmitResponse } from '@comfy-jobs/rpc'
import { compileBodyValidator } from '../validation.ts'
import { invalidRequest } from '../validation-errors.ts'
import { AppError } from '../app-error.ts'
import type { GrpcDeps } from './deps.ts'
import { unary } from './unary.ts'

const FIELDS = Object.keys(GenerateBody.properties) as Array<keyof SubmitRequest>
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/

/** The `idempotency-key` metadata entry, as REST's Idempotency-Key header. */
function idempotencyKey (metadata: grpc.Metadata): string | undefined {
  const [value] = metadata.get('idempotency-key')
  if (value === undefined) return undefined
  const key = String(value)
  if (!IDEMPOTENCY_KEY.test(key)) {
    const details = [{ field: 'idempotency-key', message: 'idempotency-key must be 1 to 128 visible ASCII characters' }]
    throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
  }
  return key
}

/** Submit: the request is validated as a REST body (same schema, defaults, messages), then submitted. */
export function submit (deps: GrpcDeps): grpc.handleUnaryCall<SubmitRequest, SubmitResponse> {
  const validate = compileBodyValidator(GenerateBody)
  return unary(deps.log, async (request, signal, metadata) => {
    const key = idempotencyKey(metadata)
    const body: Record<string, unknown> = {}
    for (const field of FIELDS) if (request[field] !== undefined) body[field] = request[field]
    if (!validate(body)) throw invalidRequest(validate.errors ?? [], 'request')
    const { job_id: jobId } = await deps.jobs.submit(body, { signal, idempotencyKey: key })
    return { job_id: jobId, status: 'JOB_STATUS_QUEUED', message: SUBMIT_MESSAGE }
  })
}
