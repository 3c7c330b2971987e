import { once } from 'node:events'
import type * as grpc from '@grpc/grpc-js'
import type { WatchJobRequest, WatchJobResponse } from '@comfy-jobs/rpc'
import { AppError } from '../app-error.ts'
import { JobNotFoundError, watchJob as watchJobEvents } from '../jobs/job-watch.ts'
import { EventsUnavailableError } from '../jobs/job-event-log.ts'
import { LEGACY_EPOCH, type EventPosition } from '../jobs/event-position.ts'
import { CallEndedError } from './call-signal.ts'
import type { GrpcDeps } from './deps.ts'
import { jobIdChecker } from './job-id.ts'
import { jobEvent, jobState } from './messages.ts'
import { toServiceError } from './status-codes.ts'
import { authenticate } from './authenticate.ts'
import { ownerScope } from '../auth/caller.ts'

type WatchCall = grpc.ServerWritableStream<WatchJobRequest, WatchJobResponse>

function appErrorOf (reason: unknown, jobId: string): unknown {
  if (reason instanceof JobNotFoundError) return new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
  if (reason instanceof EventsUnavailableError) return new AppError('EVENTS_UNAVAILABLE', { cause: reason })
  return reason
}

/** The position a request resumes after: after_seq with its epoch (none: a legacy seq); none without after_seq. */
function resumePoint (request: WatchJobRequest): EventPosition | undefined {
  if (request.after_seq === undefined || request.after_seq === null) return undefined
  return { epoch: request.epoch || LEGACY_EPOCH, seq: Number(request.after_seq) }
}

/**
 * WatchJob: the shared watchJob() iterator written to the stream. The caller cancelling, the deadline
 * and shutdown all abort the iterator; at shutdown the stream ends UNAVAILABLE with where to resume.
 */
export function watchJob (deps: GrpcDeps): grpc.handleServerStreamingCall<WatchJobRequest, WatchJobResponse> {
  const checkJobId = jobIdChecker()

  async function stream (call: WatchCall): Promise<void> {
    const { signal, dispose } = deps.streams.open(call)
    const jobId = call.request.job_id
    const after = resumePoint(call.request)
    const log = deps.log.child({ job_id: jobId })
    let last: EventPosition | undefined = after
    let why = 'ended'
    try {
      const owner = ownerScope(await authenticate(deps.callerOf, call.metadata, 'read'))
      const watch = owner === null ? deps.watch : { ...deps.watch, status: (id: string) => deps.jobs.status(id, owner) }
      const items = watchJobEvents(watch, checkJobId(jobId), { after, signal, idleMs: deps.watchIdleMs })
      for await (const item of items) {
        if (item.kind === 'idle' || item.kind === 'resumed') continue
        last = item.at
        const message: WatchJobResponse = item.kind === 'snapshot'
          ? { seq: item.at.seq, epoch: item.at.epoch, snapshot: jobState(item.status) }
          : { seq: item.at.seq, epoch: item.at.epoch, event: jobEvent(item.fields) }
        if (!call.write(message)) await once(call, 'drain', { signal })
      }
      signal.throwIfAborted()
      call.end()
    } catch (err) {
      const reason = signal.aborted ? signal.reason : err
      why = reason instanceof CallEndedError ? reason.why : reason instanceof JobNotFoundError ? 'not found' : 'error'
      if (why === 'cancelled' || call.cancelled) return // nobody is listening, or grpc-js has answered (deadline)
      const rendered = toServiceError(appErrorOf(reason, jobId), log)
      if (why === 'shutdown') rendered.details += last === undefined ? '; watch again to resume' : `; resume with after_seq=${last.seq} epoch=${last.epoch}`
      call.emit('error', rendered)
    } finally {
      dispose()
      log.info({ why, seq: last?.seq, epoch: last?.epoch }, 'watch ended')
    }
  }

  return call => { void stream(call) }
}
