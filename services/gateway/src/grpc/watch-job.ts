import { once } from 'node:events'
import type * as grpc from '@grpc/grpc-js'
import type { WatchJobRequest, WatchJobResponse } from '@comfy-jobs/rpc'
import { AppError } from '../app-error.ts'
import { JobNotFoundError, watchJob as watchJobEvents } from '../jobs/job-watch.ts'
import { CallEndedError } from './call-signal.ts'
import type { GrpcDeps } from './deps.ts'
import { jobIdChecker } from './job-id.ts'
import { jobEvent, jobState } from './messages.ts'
import { toServiceError } from './status-codes.ts'

type WatchCall = grpc.ServerWritableStream<WatchJobRequest, WatchJobResponse>

function appErrorOf (reason: unknown, jobId: string, deps: GrpcDeps): unknown {
  if (reason instanceof JobNotFoundError) return new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
  if (!(reason instanceof AppError) && !(reason instanceof CallEndedError) && !deps.eventsReadable()) {
    return new AppError('EVENTS_UNAVAILABLE', { details: (reason as Error).message, cause: reason })
  }
  return reason
}

/**
 * WatchJob: the shared watchJob() iterator written to the stream. The caller cancelling, the deadline
 * and shutdown all abort the iterator; at shutdown the stream ends UNAVAILABLE with the seq to resume after.
 */
export function watchJob (deps: GrpcDeps): grpc.handleServerStreamingCall<WatchJobRequest, WatchJobResponse> {
  const checkJobId = jobIdChecker()

  async function stream (call: WatchCall): Promise<void> {
    const { signal, dispose } = deps.streams.open(call)
    const { job_id: jobId, after_seq: afterSeq } = call.request
    const log = deps.log.child({ job_id: jobId })
    let lastSeq = afterSeq ?? 0
    let why = 'ended'
    try {
      const items = watchJobEvents(deps.watch, checkJobId(jobId), { afterSeq, signal, idleMs: deps.watchIdleMs })
      for await (const item of items) {
        if (item.kind === 'idle') continue
        lastSeq = item.seq
        const message: WatchJobResponse = item.kind === 'snapshot'
          ? { seq: item.seq, snapshot: jobState(item.status) }
          : { seq: item.seq, event: jobEvent(item.fields) }
        if (!call.write(message)) await once(call, 'drain', { signal })
      }
      signal.throwIfAborted()
      call.end()
    } catch (err) {
      const reason = signal.aborted ? signal.reason : err
      why = reason instanceof CallEndedError ? reason.why : reason instanceof JobNotFoundError ? 'not found' : 'error'
      if (why === 'cancelled' || call.cancelled) return // nobody is listening, or grpc-js has answered (deadline)
      const rendered = toServiceError(appErrorOf(reason, jobId, deps), log)
      if (why === 'shutdown') rendered.details += `; resume with after_seq=${lastSeq}`
      call.emit('error', rendered)
    } finally {
      dispose()
      log.info({ why, seq: lastSeq }, 'watch ended')
    }
  }

  return call => { void stream(call) }
}
