import type * as grpc from '@grpc/grpc-js'
import { GenerateBody, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'
import type { SubmitRequest, SubmitResponse } from '@comfy-jobs/rpc'
import { compileBodyValidator } from '../validation.ts'
import { invalidRequest } from '../validation-errors.ts'
import { AppError } from '../app-error.ts'
import type { GrpcDeps } from './deps.ts'
import { unary } from './unary.ts'
import { MAX_WAIT_SECONDS, waitForEnd } from '../jobs/job-wait.ts'
import { grpcStatus, jobState, jobStateOfRecord } from './messages.ts'
import { clientKeyOf } from './client-key.ts'

/** The scalar fields that mean the same in REST and gRPC; inputs and prompts are mapped below. */
const FIELDS = ['prompt', 'workflow', 'model', 'aspect_ratio', 'seed', 'batch_size', 'webhook'] as const
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

/** wait_seconds: 1..60 like REST's Prefer: wait=N; unset or 0 is no wait. */
function waitSeconds (seconds: number | undefined): number | undefined {
  if (seconds === undefined || seconds === 0) return undefined
  if (seconds > MAX_WAIT_SECONDS) {
    const details = [{ field: 'wait_seconds', message: `wait_seconds must be from 1 to ${MAX_WAIT_SECONDS}; got ${seconds}` }]
    throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
  }
  return seconds
}

/** workflow_graph_json: the JSON text of REST's workflow_graph. */
function graphOf (json: string): unknown {
  try {
    return JSON.parse(json)
  } catch (err) {
    const details = [{ field: 'workflow_graph_json', message: `workflow_graph_json must be the JSON text of a ComfyUI API-format graph: ${(err as Error).message}` }]
    throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
  }
}

/**
 * gRPC inputs as REST's: an upload by name, or the bytes themselves as a data: URL, so both transports
 * share one path of checks (the bytes are decoded again there; a few MB at most).
 */
function restInputs (inputs: NonNullable<SubmitRequest['inputs']>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, { files }] of Object.entries(inputs)) {
    const values = (files ?? []).map(file => file.source === 'data'
      ? `data:application/octet-stream;base64,${file.data.toString('base64')}`
      : file.source === 'upload' ? file.upload : '')
    out[name] = values.length === 1 ? values[0] : values
  }
  return out
}

/**
 * Submit: the request is validated as a REST body (same schema, defaults, messages), then submitted.
 * The rate limit counts per API key (per client address while authentication is off), as REST's.
 */
export function submit (deps: GrpcDeps): grpc.handleUnaryCall<SubmitRequest, SubmitResponse> {
  return submitHandler(deps)
}

function submitHandler (deps: GrpcDeps): grpc.handleUnaryCall<SubmitRequest, SubmitResponse> {
  const validate = compileBodyValidator(GenerateBody)
  const limiter = deps.submitRate
  return unary(deps, 'submit', async (request, signal, metadata, caller, call) => {
    const retryAfter = limiter?.take(caller.keyId ?? clientKeyOf(call)) ?? 0
    if (retryAfter > 0) {
      throw new AppError('RATE_LIMITED', { details: `at most ${limiter!.perMinute} submits per minute`, headers: { 'retry-after': String(retryAfter) } })
    }
    const key = idempotencyKey(metadata)
    const body: Record<string, unknown> = {}
    for (const field of FIELDS) if (request[field] !== undefined) body[field] = request[field]
    if (request.prompts !== undefined && request.prompts.length > 0) body.prompts = request.prompts
    if (request.webhook_events_filter !== undefined && request.webhook_events_filter.length > 0) body.webhook_events_filter = request.webhook_events_filter
    if (request.inputs !== undefined && Object.keys(request.inputs).length > 0) body.inputs = restInputs(request.inputs)
    if (request.workflow_graph_json !== undefined) body.workflow_graph = graphOf(request.workflow_graph_json)
    if (!validate(body)) throw invalidRequest(validate.errors ?? [], 'request')
    const wait = waitSeconds(request.wait_seconds)
    const { job_id: jobId } = await deps.jobs.submit(body, { owner: caller.owner, signal, idempotencyKey: key })
    const accepted: SubmitResponse = { job_id: jobId, status: 'JOB_STATUS_QUEUED', message: SUBMIT_MESSAGE }
    if (wait === undefined) return accepted
    const held = deps.streams.hold() // shutdown ends the wait: the caller gets where the job is now
    const stop = AbortSignal.any([signal, held.signal])
    try {
      const outcome = await waitForEnd({ watch: deps.watch, record: id => deps.jobs.record(id, caller.owner), status: id => deps.jobs.status(id, caller.owner) }, jobId, wait * 1000, stop)
      if (outcome.ended) return { ...accepted, status: grpcStatus(outcome.record.status), job: jobStateOfRecord(outcome.record), ended: true }
      return outcome.status === null ? accepted : { ...accepted, status: grpcStatus(outcome.status.status), job: jobState(outcome.status), ended: false }
    } finally {
      held.dispose()
    }
  })
}
