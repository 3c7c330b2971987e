import type { Redis, ChainableCommander } from 'ioredis'
import { statusKey, type QueuedJob } from '@comfy-jobs/contracts'

/**
 * The hash's rules as a Lua condition over `cur` (the hash's status) and `mode` (an ApplyMode): true
 * when the write is refused. Every script that writes the hash uses this one text.
 */
export const REFUSED_BY_STATUS_RULES = "(mode == 'progress' and cur ~= 'processing') or (mode ~= 'force' and (cur == 'finished' or cur == 'failed' or cur == 'cancelled'))"

/** Writes fields unless the job is already terminal in the cache (terminal states are sticky). */
const APPLY_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'status')
local mode = ARGV[2]
if ${REFUSED_BY_STATUS_RULES} then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1`

/**
 * HGETALL of every key, in one round trip, as one JSON string: [[field, value, …], …] in the order
 * of KEYS (a missing hash is an empty table, which cjson writes as {}). One bulk string is far cheaper
 * for the gateway to take apart than one map reply per key.
 */
const READ_MANY_SCRIPT = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return cjson.encode(out)`

/** At most this many keys in one batched read. */
const READ_BATCH_MAX = 100

interface PendingRead {
  key: string
  resolve: (hash: Record<string, string> | null) => void
  reject: (err: unknown) => void
}

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
    if (typeof (redis as any).readJobStatuses !== 'function') {
      redis.defineCommand('readJobStatuses', { lua: READ_MANY_SCRIPT })
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

  /** reads waiting for the end of this turn of the event loop */
  #pending: PendingRead[] = []

  /**
   * The job's hash, or null when there is none. The reads asked for in one turn of the event loop
   * leave together at its end as one command (READ_MANY_SCRIPT): under load, a write to Redis and a
   * reply to parse per status request were most of the cost of a status read.
   */
  read (jobId: string): Promise<Record<string, string> | null> {
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ key: statusKey(jobId), resolve, reject }) === 1) setImmediate(() => this.#flush())
    })
  }

  #flush (): void {
    const all = this.#pending
    this.#pending = []
    for (let i = 0; i < all.length; i += READ_BATCH_MAX) this.#readBatch(all.slice(i, i + READ_BATCH_MAX))
  }

  #readBatch (batch: PendingRead[]): void {
    // no closures made per batch here: under tsx every named one costs a defineProperty('name')
    let reply: Promise<string>
    try {
      reply = (this.#redis as any).readJobStatuses(batch.length, ...batch.map(keyOf))
    } catch (err) {
      rejectAll(batch, err)
      return
    }
    reply.then(json => {
      let hashes: unknown[]
      try {
        hashes = JSON.parse(json)
      } catch (err) {
        rejectAll(batch, err)
        return
      }
      for (let i = 0; i < batch.length; i++) batch[i].resolve(toHash(hashes[i]))
    }, err => rejectAll(batch, err))
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

function keyOf (p: PendingRead): string {
  return p.key
}

function rejectAll (batch: PendingRead[], err: unknown): void {
  for (const p of batch) p.reject(err)
}

/** A flat [field, value, …] list as a hash; null when it is empty (no such key). */
function toHash (flat: unknown): Record<string, string> | null {
  if (!Array.isArray(flat) || flat.length === 0) return null
  const hash: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]] = flat[i + 1]
  return hash
}
