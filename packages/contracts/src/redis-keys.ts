/** Every Redis key name the services use, in one place. */
export const DEFAULT_QUEUE_NAME = 'comfy-jobs'

export function statusKey (jobId: string): string {
  return `job:status:${jobId}`
}

/** A job's recent events as a Redis stream; entry ids are `${seq}-0`, seq counting from 1 per job. */
export function eventsStreamKey (jobId: string): string {
  return `job:events:${jobId}`
}

/** One pub/sub channel for every job's events: messages are `${job_id} ${seq}` (a wake-up, not data). */
export const EVENTS_CHANNEL = 'job:events'

/** The lease that lets one gateway at a time run the sweeper for a queue. */
export function sweeperLeaseKey (queueName: string): string {
  return `sweeper:lease:${queueName}`
}
