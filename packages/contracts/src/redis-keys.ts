/** Every Redis key name the services use, in one place. */
export const DEFAULT_QUEUE_NAME = 'comfy-jobs'

export function statusKey (jobId: string): string {
  return `job:status:${jobId}`
}

/**
 * A job's recent events as a Redis stream; entry ids are `${seq}-${epoch}`, seq counting from 1 per
 * history, the epoch naming the history (a new one when Redis lost the old; `0` for histories written
 * before epochs).
 */
export function eventsStreamKey (jobId: string): string {
  return `job:events:${jobId}`
}

/** One pub/sub channel for every job's events: messages are `${job_id} ${seq}` (a wake-up, not data). */
export const EVENTS_CHANNEL = 'job:events'

/** The lease that lets one gateway at a time run the sweeper for a queue. */
export function sweeperLeaseKey (queueName: string): string {
  return `sweeper:lease:${queueName}`
}

/**
 * Workers consuming a queue that no gateway streams (so what they run cannot be recorded): a hash of
 * worker id → UnstreamedWorker as JSON, kept by each such worker, so every gateway's health shows them.
 */
export function unstreamedWorkersKey (queueName: string): string {
  return `workers:unstreamed:${queueName}`
}

export interface UnstreamedWorker {
  worker_id: string
  /** when it stopped taking jobs (ISO 8601) */
  since: string
  /** when the worker last said so (ms since the epoch); entries older than UNSTREAMED_STALE_MS are of workers gone */
  seen_at: number
}

/** How often an unstreamed worker renews its entry, and after how long without that the entry is stale. */
export const UNSTREAMED_REFRESH_MS = 5000
export const UNSTREAMED_STALE_MS = 3 * UNSTREAMED_REFRESH_MS

/**
 * The worker registry of a queue: each worker's entry (WorkerAnnouncement as JSON) under its own key,
 * written with a TTL and renewed every REGISTRY_HEARTBEAT_MS, so a worker that dies drops out by
 * itself; the index set names the workers to look for. `{queue}` is a hash tag: one Redis Cluster slot.
 */
export function workerRegistryIndexKey (queueName: string): string {
  return `workers:registry:{${queueName}}`
}

export function workerRegistryEntryKey (queueName: string, workerId: string): string {
  return `workers:registry:{${queueName}}:${workerId}`
}

export interface WorkerAnnouncement {
  worker_id: string
  /** host:port where gateways reach its gRPC service (WORKER_ADVERTISE_ADDRESS) */
  address: string
  engine: string
  /** which models each workflow takes on this worker */
  runnable: Array<{ workflow: string, models: string[] }>
  /** this boot of the worker */
  epoch: string
  /** when the worker last renewed it (ms since the epoch) */
  seen_at: number
}

export const REGISTRY_HEARTBEAT_MS = 2000
/** A worker that has not renewed its entry for this long is gone. */
export const REGISTRY_TTL_MS = 5 * REGISTRY_HEARTBEAT_MS

/**
 * Routing by capability. A job that every live worker can run goes to the queue itself (QUEUE_NAME); one
 * that only some can run (or none, for now) goes to the queue of its workflow and model, which only the
 * workers that run that pair consume. The set names every such queue in use, so workers know which to
 * consume and the gateway which to look in.
 */
export function capabilityQueueName (queueName: string, workflow: string, model: string): string {
  // encodeURIComponent escapes '@' (the separator) and ':' (which BullMQ refuses in a name)
  return `${queueName}@${encodeURIComponent(workflow)}@${encodeURIComponent(model)}`
}

/** The workflow and model a capability queue's name stands for; null for any other name. */
export function parseCapabilityQueueName (queueName: string, name: string): { workflow: string, model: string } | null {
  const parts = name.split('@')
  if (parts.length !== 3 || parts[0] !== queueName) return null
  try {
    return { workflow: decodeURIComponent(parts[1]), model: decodeURIComponent(parts[2]) }
  } catch {
    return null
  }
}

export function capabilityQueuesKey (queueName: string): string {
  return `queues:capabilities:{${queueName}}`
}

/** An owner's uploads within UPLOAD_RETENTION_SECONDS: a hash of stored name → `bytes:storedAtMs` (UPLOAD_MAX_*_PER_OWNER). */
export function uploadQuotaKey (queueName: string, owner: string): string {
  return `uploads:quota:{${queueName}}:${owner}`
}

/**
 * A login session: `{user_id, created_at}` as JSON, with the session's TTL. Named by the SHA-256 of the
 * session id, so a copy of Redis holds no usable cookie; the queue name keeps deployments that share
 * a Redis apart (their users are different databases' rows).
 */
export function sessionKey (queueName: string, idHash: string): string {
  return `session:{${queueName}}:${idHash}`
}

/** The ids (hashed) of one user's sessions, so they can be listed and revoked together. */
export function userSessionsKey (queueName: string, userId: number): string {
  return `session:{${queueName}}:user:${userId}`
}

/** Login attempts counted in a window, per email (hashed) or per client address. */
export function loginAttemptsKey (queueName: string, by: 'email' | 'ip', what: string): string {
  return `login:attempts:{${queueName}}:${by}:${what}`
}
