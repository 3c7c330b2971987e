import { isTerminal, type StatusResponse } from '@comfy-jobs/contracts'
import type { JobEventHub } from './job-event-hub.ts'
import type { JobEventLog } from './job-event-log.ts'

export type WatchItem =
  | { kind: 'snapshot', seq: number, status: StatusResponse }
  | { kind: 'event', seq: number, fields: Record<string, string> }
  | { kind: 'idle' }

export interface WatchDeps {
  events: JobEventLog
  hub: JobEventHub
  status: (jobId: string) => Promise<StatusResponse | null>
}

export class JobNotFoundError extends Error {
  constructor (readonly jobId: string) {
    super(`job ${jobId} not found`)
    this.name = 'JobNotFoundError'
  }
}

/**
 * A job's events for one watcher, shared by SSE and gRPC: without `afterSeq`, first a snapshot (with
 * the seq it reflects), then every later event in order; with `afterSeq`, the events after it. Ends
 * after the terminal event. Yields `idle` every `idleMs` without events (for keep-alives).
 */
export async function * watchJob (deps: WatchDeps, jobId: string, opts: { afterSeq?: number, signal: AbortSignal, idleMs: number }): AsyncGenerator<WatchItem> {
  let wake: (() => void) | null = null
  let pending = true
  const unwatch = deps.hub.watch(jobId, () => { pending = true; wake?.() })
  const onAbort = () => wake?.()
  opts.signal.addEventListener('abort', onAbort)
  try {
    let cursor: number
    if (opts.afterSeq === undefined) {
      cursor = await deps.events.lastSeq(jobId) // before the snapshot, so nothing falls between
      const status = await deps.status(jobId)
      if (!status) throw new JobNotFoundError(jobId)
      yield { kind: 'snapshot', seq: cursor, status }
      if (isTerminal(status.status)) return
    } else {
      cursor = opts.afterSeq
      const status = await deps.status(jobId)
      if (!status) throw new JobNotFoundError(jobId)
      if (isTerminal(status.status) && (await deps.events.lastSeq(jobId)) <= cursor) return
    }
    while (!opts.signal.aborted) {
      if (pending) {
        pending = false
        for (const event of await deps.events.after(jobId, cursor)) {
          cursor = event.seq
          yield { kind: 'event', seq: event.seq, fields: event.fields }
          if (isTerminal(event.fields.type)) return
        }
        continue
      }
      const woke = await new Promise<boolean>(resolve => {
        const timer = setTimeout(() => { wake = null; resolve(false) }, opts.idleMs)
        wake = () => { clearTimeout(timer); wake = null; resolve(true) }
      })
      if (!woke && !opts.signal.aborted) {
        pending = true // a poll now and then covers a lost wake-up
        yield { kind: 'idle' }
      }
    }
  } finally {
    unwatch()
    opts.signal.removeEventListener('abort', onAbort)
  }
}
