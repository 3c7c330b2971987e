import { isTerminal, type JobRecord, type StatusResponse } from '@comfy-jobs/contracts'
import { watchJob, type WatchDeps } from './job-watch.ts'

/** The most a submit may wait for its job to end (`Prefer: wait=N`, gRPC `wait_seconds`). */
export const MAX_WAIT_SECONDS = 60

export type WaitOutcome =
  | { ended: true, record: JobRecord }
  /** still running when the time was up (or the watch could not go on): where it is now, if readable */
  | { ended: false, status: StatusResponse | null }

export interface WaitDeps {
  watch: WatchDeps
  record: (jobId: string) => Promise<JobRecord | null>
  status: (jobId: string) => Promise<StatusResponse | null>
}

/**
 * Waits up to `ms` for the job to end, on its event history (watchJob: wake-ups, no polling loop of
 * its own), then answers its terminal record, or its current status. Never longer than `ms` plus one
 * bounded read: a worker that dies mid-job leaves the job live, and the time runs out; `signal` (the
 * caller left, the gateway closes) ends the wait at once. A watch that fails (Redis away) answers the
 * status as the database tells it.
 */
export async function waitForEnd (deps: WaitDeps, jobId: string, ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), ms)
  const onAbort = () => abort.abort()
  signal?.addEventListener('abort', onAbort)
  let ended = false
  try {
    for await (const item of watchJob(deps.watch, jobId, { signal: abort.signal, idleMs: Math.max(Math.min(ms, 1000), 1) })) {
      if (abort.signal.aborted) break
      if ((item.kind === 'snapshot' && isTerminal(item.status.status)) || (item.kind === 'event' && isTerminal(item.fields.type))) {
        ended = true
        break
      }
    }
  } catch {
    // the history could not be read: answer what the stores say now
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  const status = await deps.status(jobId).catch(() => null)
  if (ended || (status !== null && isTerminal(status.status))) {
    const record = await deps.record(jobId).catch(() => null)
    if (record !== null && isTerminal(record.status)) return { ended: true, record }
  }
  return { ended: false, status }
}
