export const JOB_STATUSES = ['queued', 'processing', 'finished', 'failed', 'cancelled'] as const
export type JobStatus = (typeof JOB_STATUSES)[number]

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['finished', 'failed', 'cancelled'])

export function isTerminal (status: string): boolean {
  return TERMINAL_STATUSES.has(status as JobStatus)
}
