import { isTerminal, type StatusResponse } from '@comfy-jobs/contracts'
import type { JobEventHub } from './job-event-hub.ts'
import { EventsUnavailableError, type HistoryHead, type JobEventLog } from './job-event-log.ts'
import { START, UNKNOWN_END, samePosition, type EventPosition } from './event-position.ts'

export type WatchItem =
  | { kind: 'snapshot', at: EventPosition, status: StatusResponse }
  /** first, when a resume is honoured: the events after `at` follow */
  | { kind: 'resumed', at: EventPosition }
  | { kind: 'event', at: EventPosition, fields: Record<string, string> }
  | { kind: 'idle' }

export interface WatchDeps {
  events: JobEventLog
  hub: JobEventHub
  status: (jobId: string) => Promise<StatusResponse | null>
  /** where the database recorded the job's terminal event (JobStore.endOf) */
  recordedEnd: (jobId: string) => Promise<EventPosition | null>
}

export class JobNotFoundError extends Error {
  constructor (readonly jobId: string) {
    super(`job ${jobId} not found`)
    this.name = 'JobNotFoundError'
  }
}

/**
 * Where a terminal job's history ends, as a terminal snapshot says: its terminal event; else where the
 * database recorded it (the history was lost since); else just past the newest event, a place no
 * event has, so only a watcher given it by a snapshot can hold it.
 */
async function endOf (deps: WatchDeps, jobId: string, head: HistoryHead | null): Promise<EventPosition> {
  if (head?.terminal) return head
  const recorded = await deps.recordedEnd(jobId)
  if (recorded !== null) return recorded
  return head === null ? UNKNOWN_END : { epoch: head.epoch, seq: head.seq + 1 }
}

/**
 * Where a resume after `after` starts: `after` itself when the history still holds it (same epoch, not
 * beyond its end; for a terminal job only a history that has the end); null when a fresh snapshot is
 * due (the history was lost and began again); 'ended' when `after` is the job's end, already seen.
 */
async function resumeFrom (deps: WatchDeps, jobId: string, after: EventPosition): Promise<EventPosition | null | 'ended'> {
  const status = await deps.status(jobId)
  if (!status) throw new JobNotFoundError(jobId)
  const head = await deps.events.head(jobId)
  const holds = after.seq === 0 || (head !== null && head.epoch === after.epoch && after.seq <= head.seq)
  if (!isTerminal(status.status)) return holds ? after : null
  if (samePosition(await endOf(deps, jobId, head), after)) return 'ended'
  return holds && head?.terminal === true ? after : null
}

/** The snapshot that starts (or restarts) a watch, and where the events after it begin. */
async function snapshot (deps: WatchDeps, jobId: string): Promise<{ item: WatchItem, ended: boolean, from: EventPosition }> {
  const head = await deps.events.head(jobId) // before the status, so nothing falls between
  const status = await deps.status(jobId)
  if (!status) throw new JobNotFoundError(jobId)
  const ended = isTerminal(status.status)
  const from = head ?? START
  return { item: { kind: 'snapshot', at: ended ? await endOf(deps, jobId, head) : from, status }, ended, from }
}

/** While the history cannot be read: the terminal snapshot if the job has ended, as the database says. */
async function endWithoutHistory (deps: WatchDeps, jobId: string): Promise<WatchItem | null> {
  const status = await deps.status(jobId)
  if (status === null || !isTerminal(status.status)) return null
  return { kind: 'snapshot', at: await deps.recordedEnd(jobId) ?? UNKNOWN_END, status }
}

/**
 * A job's events for one watcher, shared by SSE and gRPC: without `after`, first a snapshot (with the
 * position it reflects), then every later event in order; with `after`, the events after it, or — when
 * the history no longer holds `after` (Redis lost it) — a fresh snapshot and every later event.
 * A history lost while watching also brings a fresh snapshot. The first item is the snapshot or
 * `resumed`, so a transport knows at once how the watch starts; a failure before it (Redis away) ends
 * the watch, one after it is waited out, the database telling meanwhile whether the job ended. Ends
 * after the terminal event or a terminal snapshot; yields nothing for a resume at the end. Yields
 * `idle` every `idleMs` without events (for keep-alives); such a pause also checks the job has not
 * ended beyond its history.
 */
export async function * watchJob (deps: WatchDeps, jobId: string, opts: { after?: EventPosition, signal: AbortSignal, idleMs: number }): AsyncGenerator<WatchItem> {
  let wake: (() => void) | null = null
  let pending = true
  const unwatch = deps.hub.watch(jobId, () => { pending = true; wake?.() })
  const onAbort = () => wake?.()
  opts.signal.addEventListener('abort', onAbort)
  try {
    let cursor: EventPosition | null = null // null: a snapshot is due
    if (opts.after !== undefined) {
      const from = await resumeFrom(deps, jobId, opts.after)
      if (from === 'ended') return
      cursor = from
      if (from !== null) yield { kind: 'resumed', at: from }
    }
    let started = cursor !== null
    let quiet = false // the last wait passed without a wake-up
    while (!opts.signal.aborted) {
      if (cursor === null || pending) {
        try {
          if (cursor === null) {
            const start = await snapshot(deps, jobId)
            yield start.item
            started = true
            if (start.ended) return
            cursor = start.from
            pending = true
            continue
          }
          pending = false
          const { events } = await deps.events.read(jobId, cursor)
          if (events === null) {
            cursor = null // the history was lost and began again
            continue
          }
          for (const event of events) {
            cursor = event.at
            yield { kind: 'event', at: event.at, fields: event.fields }
            if (isTerminal(event.fields.type)) return
          }
          if (quiet && events.length === 0) {
            // nothing new for a while: if the job has ended anyway, its history lacks the end (lost with Redis)
            const status = await deps.status(jobId)
            if (status === null || isTerminal(status.status)) cursor = null
          }
          quiet = false
          continue
        } catch (err) {
          if (!started || !(err instanceof EventsUnavailableError)) throw err
          pending = true // Redis is away: try again after the wait
          const end = await endWithoutHistory(deps, jobId)
          if (end !== null) {
            yield end
            return
          }
        }
      }
      quiet = !await new Promise<boolean>(resolve => {
        const timer = setTimeout(() => { wake = null; resolve(false) }, opts.idleMs)
        wake = () => { clearTimeout(timer); wake = null; resolve(true) }
      })
      if (quiet && !opts.signal.aborted) {
        pending = true // a poll now and then covers a lost wake-up
        yield { kind: 'idle' }
      }
    }
  } finally {
    unwatch()
    opts.signal.removeEventListener('abort', onAbort)
  }
}
