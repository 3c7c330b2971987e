export const JOB_STATUSES = ['queued', 'processing', 'finished', 'failed', 'cancelled'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['finished', 'failed', 'cancelled'])

export function isTerminal (status: string): boolean {
  return TERMINAL_STATUSES.has(status as JobStatus)
}

/** Order of the lifecycle; a transition may only move forward, and terminal states are sticky. */
const RANK: Record<JobStatus, number> = { queued: 0, processing: 1, finished: 2, failed: 2, cancelled: 2 }

export function canTransition (from: JobStatus, to: JobStatus): boolean {
  if (isTerminal(from)) return false
  return RANK[to] > RANK[from] || (from === to && from === 'processing')
}
