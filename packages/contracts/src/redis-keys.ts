/** Every Redis key name the services use, in one place. */
export const DEFAULT_QUEUE_NAME = 'comfy-jobs'

export function statusKey (jobId: string): string {
  return `job:status:${jobId}`
}

/** Pub/sub channel carrying a job's live events (for SSE watchers on any gateway). */
export function eventsChannel (jobId: string): string {
  return `job:events:${jobId}`
}
