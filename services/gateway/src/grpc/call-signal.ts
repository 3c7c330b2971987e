import type { EventEmitter } from 'node:events'
import type * as grpc from '@grpc/grpc-js'

/** What every server call has (grpc-js does not export its name for it). */
export type ServerCall = EventEmitter & { getDeadline: () => grpc.Deadline }

/** Why a call's work was stopped before it was done. */
export class CallEndedError extends Error {
  constructor (readonly why: 'cancelled' | 'deadline' | 'shutdown') {
    super(`the call ended: ${why}`)
    this.name = 'CallEndedError'
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1 // longer timers fire at once; such a deadline is as good as none
/** a cancel this close to the deadline is the deadline (see onCancelled) */
const DEADLINE_SLACK_MS = 1000

export interface CallSignal {
  signal: AbortSignal
  /** stops the call's work (e.g. at shutdown) */
  abort: (why: CallEndedError['why']) => void
  dispose: () => void
}

/**
 * An AbortSignal for one call's work: aborted when the client cancels, when the call's deadline
 * passes, or by abort(). The deadline is watched here too, not only by grpc-js, so the work stops
 * at the deadline and not just the answer.
 */
export function callSignal (call: ServerCall): CallSignal {
  const controller = new AbortController()
  const abort = (why: CallEndedError['why']) => { if (!controller.signal.aborted) controller.abort(new CallEndedError(why)) }
  const deadline = call.getDeadline()
  const deadlineAt = deadline instanceof Date ? deadline.getTime() : deadline
  // A call ended at its deadline reaches us as 'cancelled': from grpc-js's own timer, or as the
  // client's cancel at its deadline. The client's clock started before ours (ours starts when the
  // headers are read, later under load), so its cancel can arrive before our deadline.
  const onCancelled = () => abort(Date.now() >= deadlineAt - DEADLINE_SLACK_MS ? 'deadline' : 'cancelled')
  call.on('cancelled', onCancelled)
  const ms = deadlineAt - Date.now()
  let timer: NodeJS.Timeout | undefined
  if (ms <= 0) abort('deadline')
  else if (ms < MAX_TIMER_MS) timer = setTimeout(abort, ms, 'deadline')
  return {
    signal: controller.signal,
    abort,
    dispose: () => {
      clearTimeout(timer)
      call.removeListener('cancelled', onCancelled)
    }
  }
}
