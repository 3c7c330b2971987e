import type { Redis, ChainableCommander } from 'ioredis'
import { statusKey, type QueuedJob } from '@comfy-jobs/contracts'

/** Writes fields unless the job is already terminal in the cache (terminal states are sticky). */
const APPLY_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'status')
local mode = ARGV[2]
if mode == 'progress' and cur ~= 'processing' then return 0 end
if mode ~= 'force' and (cur == 'finished' or cur == 'failed' or cur == 'cancelled') then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`

export type ApplyMode = 'progress' | 'state' | 'force'

/**
 * Every operation on the `job:status:{id}` hash. Values are strings; empty string means "none".
 * `progress` only lands on a job the cache knows as processing; `state` never overwrites a terminal
 * state; `force` writes what the database has just confirmed.
 */
export class StatusCache {
  readonly #redis: Redis
  readonly #ttlSeconds: number

  constructor (redis: Redis, ttlSeconds: number) {
    this.#redis = redis
    this.#ttlSeconds = ttlSeconds
    if (typeof (redis as any).applyJobStatus !== 'function') {
      redis.defineCommand('applyJobStatus', { numberOfKeys: 1, lua: APPLY_SCRIPT })
    }
  }

  /** Adds the initial hash of a queued job to a MULTI, so it travels with other commands. */
  addInit (multi: ChainableCommander, job: QueuedJob, createdAt: Date): ChainableCommander {
    const key = statusKey(job.job_id)
    const now = createdAt.toISOString()
    return multi
      .hset(key, {
        job_id: job.job_id,
        status: 'queued',
        progress: '0',
        image_url: '',
        error: '',
        workflow: job.workflow,
        created_at: now,
        updated_at: now
      })
      .expire(key, this.#ttlSeconds)
  }

  async read (jobId: string): Promise<Record<string, string> | null> {
    const hash = await this.#redis.hgetall(statusKey(jobId))
    return hash && Object.keys(hash).length > 0 ? hash : null
  }

  async remove (jobId: string): Promise<void> {
    await this.#redis.del(statusKey(jobId))
  }

  async apply (jobId: string, fields: Record<string, string | number>, mode: ApplyMode): Promise<boolean> {
    const flat: string[] = []
    for (const [k, v] of Object.entries({ ...fields, updated_at: new Date().toISOString() })) flat.push(k, String(v))
    const applied = await (this.#redis as any).applyJobStatus(statusKey(jobId), this.#ttlSeconds, mode, ...flat)
    return applied === 1
  }
}
