import type * as grpc from '@grpc/grpc-js'
import { GenerateBody, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'
import type { SubmitRequest, SubmitResponse } from '@comfy-jobs/rpc'
import { compileBodyValidator } from '../validation.ts'
import { invalidRequest } from '../validation-errors.ts'
import type { GrpcDeps } from './deps.ts'
import { unary } from './unary.ts'

const FIELDS = Object.keys(GenerateBody.properties) as Array<keyof SubmitRequest>

/** Submit: the request is validated as a REST body (same schema, defaults, messages), then submitted. */
export function submit (deps: GrpcDeps): grpc.handleUnaryCall<SubmitRequest, SubmitResponse> {
  const validate = compileBodyValidator(GenerateBody)
  return unary(deps.log, async (request, signal) => {
    const body: Record<string, unknown> = {}
    for (const field of FIELDS) if (request[field] !== undefined) body[field] = request[field]
    if (!validate(body)) throw invalidRequest(validate.errors ?? [], 'request')
    const { job_id: jobId } = await deps.jobs.submit(body, { signal })
    return { job_id: jobId, status: 'JOB_STATUS_QUEUED', message: SUBMIT_MESSAGE }
  })
}
