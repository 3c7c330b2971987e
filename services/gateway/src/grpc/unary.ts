import type * as grpc from '@grpc/grpc-js'
import type { Scope } from '@comfy-jobs/db'
import type { Caller } from '../auth/caller.ts'
import type { GrpcDeps } from './deps.ts'
import { authenticate } from './authenticate.ts'
import { callSignal } from './call-signal.ts'
import { toServiceError } from './status-codes.ts'
import { ILL_FORMED_FIELD } from './strict-strings.ts'
import { AppError } from '../app-error.ts'

function invalidUtf8 (field: string): AppError {
  const problem = { field, message: `${field} is not valid UTF-8 (a lone surrogate?): text must be well-formed Unicode` }
  return new AppError('VALIDATION', { details: [problem], extra: { error: `Invalid request: ${problem.message}` } })
}

/**
 * A unary handler from an async function: its result is the answer, its error is rendered by
 * toServiceError. The caller is authenticated first (`scope`: what the call needs), then a request with
 * a string field that was not valid UTF-8 is refused (see strict-strings.ts). The function gets the
 * caller and a signal that aborts when the caller cancels or the deadline passes.
 */
export function unary<Req, Res> (
  deps: Pick<GrpcDeps, 'log' | 'callerOf'>,
  scope: Scope,
  fn: (request: Req, signal: AbortSignal, metadata: grpc.Metadata, caller: Caller, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { signal, dispose } = callSignal(call)
    const illFormed = (call.request as { [ILL_FORMED_FIELD]?: string })[ILL_FORMED_FIELD]
    const answer = authenticate(deps.callerOf, call.metadata, scope).then(caller => illFormed === undefined
      ? fn(call.request, signal, call.metadata, caller, call)
      : Promise.reject(invalidUtf8(illFormed)))
    answer.then(
      response => callback(null, response),
      (err: unknown) => callback(toServiceError(err, deps.log))
    ).finally(dispose)
  }
}
