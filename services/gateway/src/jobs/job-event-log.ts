import type { Redis } from 'ioredis'
import { EVENTS_CHANNEL, eventsStreamKey } from '@comfy-jobs/contracts'

/** The fields of one job event as watchers see it; empty strings are omitted. */
export type JobEventFields = Record<string, string | number>

export interface StoredJobEvent {
  seq: number
  fields: Record<string, string>
}

// seq = last entry's seq + 1; the stream keeps the newest MAXLEN entries and lives as long as the status.
const APPEND_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local seq = 1
if #last > 0 then seq = tonumber(string.match(last[1][1], '^(%d+)')) + 1 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'seq', seq, unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4 + 1] .. ' ' .. seq)
return seq`

export const MAX_EVENTS_PER_JOB = 2000

/**
 * Every Redis operation on a job's event history: append (with a per-job gap-free seq and a wake-up
 * on the shared channel), read after a seq, last seq.
 */
export class JobEventLog {
  readonly #redis: Redis
  readonly #ttlSeconds: number

  constructor (redis: Redis, ttlSeconds: number) {
    this.#redis = redis
    this.#ttlSeconds = ttlSeconds
    if (typeof (redis as any).appendJobEvent !== 'function') {
      redis.defineCommand('appendJobEvent', { numberOfKeys: 1, lua: APPEND_SCRIPT })
    }
  }

  /** Appends an event; `job_id` goes first so the script can publish it. Returns the event's seq. */
  async append (jobId: string, fields: JobEventFields): Promise<number> {
    const flat: string[] = ['job_id', jobId]
    for (const [k, v] of Object.entries(fields)) {
      if (k !== 'job_id' && v !== '' && v !== undefined) flat.push(k, String(v))
    }
    return Number(await (this.#redis as any).appendJobEvent(eventsStreamKey(jobId), this.#ttlSeconds, MAX_EVENTS_PER_JOB, EVENTS_CHANNEL, ...flat))
  }

  async after (jobId: string, seq: number): Promise<StoredJobEvent[]> {
    const entries = await this.#redis.xrange(eventsStreamKey(jobId), `${seq + 1}-0`, '+')
    return entries.map(([, kv]) => {
      const fields: Record<string, string> = {}
      for (let i = 0; i < kv.length; i += 2) fields[kv[i]] = kv[i + 1]
      return { seq: Number(fields.seq), fields }
    })
  }

  async lastSeq (jobId: string): Promise<number> {
    const last = await this.#redis.xrevrange(eventsStreamKey(jobId), '+', '-', 'COUNT', 1)
    return last.length > 0 ? Number(last[0][0].split('-')[0]) : 0
  }
}
