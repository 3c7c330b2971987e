import type { Redis, ChainableCommander } from 'ioredis'
import { statusKey, type QueuedJob } from '@comfy-jobs/contracts'
import { ReadBatcher } from './read-batcher.ts'

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

/** The field that marks the hash of a job whose commit is in doubt (see markUnconfirmed). */
export const UNCONFIRMED = 'unconfirmed'

/** At most this many keys in one batched read. */
const READ_BATCH_MAX = 100
/** Batched reads out at once (see ReadBatcher). */
const READS_IN_FLIGHT = 1
/** A batch out longer than this no longer holds back the next (its callers time out on their own). */
const READ_STALL_MS = 200

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
    this.#reads = new ReadBatcher(keys => this.#readMany(keys), { maxBatch: READ_BATCH_MAX, maxInFlight: READS_IN_FLIGHT, stallMs: READ_STALL_MS })
    if (typeof (redis as any).applyJobStatus !== 'function') {
      redis.defineCommand('applyJobStatus', { numberOfKeys: 1, lua: APPLY_SCRIPT })
    }
    if (typeof (redis as any).readJobStatuses !== 'function') {
      redis.defineCommand('readJobStatuses', { lua: READ_MANY_SCRIPT })
    }
  }

  /** Adds the initial hash of a queued job to a MULTI, so it travels with other commands. */
  addInit (multi: ChainableCommander, job: QueuedJob, createdAt: Date, owner: string): ChainableCommander {
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
        // with workflow: what a status read of the queued job needs to say why it waits (waiting_reason)
        model: job.model,
        // lets a status read check the caller's owner without the database; never part of an answer
        owner,
        created_at: now,
        updated_at: now
      })
      .expire(key, this.#ttlSeconds)
  }

  readonly #reads: ReadBatcher<Record<string, string> | null>

  /**
   * The job's hash, or null when there is none. Reads are batched (ReadBatcher) into one command
   * (READ_MANY_SCRIPT): under load, a write to Redis and a reply to parse per status request were
   * most of the cost of a status read. A batch is bounded by the client's command timeout.
   */
  read (jobId: string): Promise<Record<string, string> | null> {
    return this.#reads.read(statusKey(jobId))
  }

  async #readMany (keys: string[]): Promise<Array<Record<string, string> | null>> {
    const json: string = await (this.#redis as any).readJobStatuses(keys.length, ...keys)
    const hashes = JSON.parse(json) as unknown[]
    return keys.map((_key, i) => toHash(hashes[i]))
  }

  /**
   * Marks the hash of a job whose commit is in doubt: a status read then asks the database instead
   * of trusting the hash, which the push wrote before the commit.
   */
  async markUnconfirmed (jobId: string): Promise<void> {
    const key = statusKey(jobId)
    await this.#redis.multi().hset(key, UNCONFIRMED, '1').expire(key, this.#ttlSeconds).exec()
  }

  /** The database holds the job: the hash may be trusted again. */
  async confirm (jobId: string): Promise<void> {
    await this.#redis.hdel(statusKey(jobId), UNCONFIRMED)
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

/** A flat [field, value, …] list as a hash; null when it is empty (no such key). */
function toHash (flat: unknown): Record<string, string> | null {
  if (!Array.isArray(flat) || flat.length === 0) return null
  const hash: Record<string, string> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]] = flat[i + 1]
  return hash
}
