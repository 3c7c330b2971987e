import type * as grpc from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { callSignal } from './call-signal.ts'
import { toServiceError } from './status-codes.ts'

/**
 * A unary handler from an async function: its result is the answer, its error is rendered by
 * toServiceError. The function gets a signal that aborts when the caller cancels or the deadline passes.
 */
export function unary<Req, Res> (log: Logger, fn: (request: Req, signal: AbortSignal, metadata: grpc.Metadata) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { signal, dispose } = callSignal(call)
    fn(call.request, signal, call.metadata).then(
      response => callback(null, response),
      (err: unknown) => callback(toServiceError(err, log))
    ).finally(dispose)
  }
}
