import type { Redis } from 'ioredis'
import type { JobEvent } from '@comfy-jobs/rpc'
import { EVENTS_CHANNEL, eventsStreamKey, statusKey } from '@comfy-jobs/contracts'
import type { ApplyMode } from '../jobs/status-cache.ts'
import { MAX_EVENTS_PER_JOB } from '../jobs/job-event-log.ts'

/**
 * One worker event into Redis in one step: the status hash (same rules as StatusCache.apply), the
 * job's event stream and the wake-up. Each stream entry carries `src` = the worker's `epoch:seq`, so
 * an event that is delivered again (replay after a gateway crash, retry after a lost reply) finds
 * itself as the newest entry and is skipped: nothing is written twice and progress never steps back.
 * Returns {-1} (duplicate), {0} (refused by the status rules) or {stream seq, workflow}.
 */
const INGEST_SCRIPT = `
local ttl, mode, epoch, wseq = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local nstatus = tonumber(ARGV[7])
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local seq = 1
if #last > 0 then
  local kv = last[1][2]
  for i = 1, #kv, 2 do
    if kv[i] == 'src' then
      local e, s = string.match(kv[i + 1], '^(.*):(%d+)$')
      if e == epoch and tonumber(s) >= wseq then return {-1} end
    end
  end
  seq = tonumber(string.match(last[1][1], '^(%d+)')) + 1
end
local cur = redis.call('HGET', KEYS[1], 'status')
if mode == 'progress' and cur ~= 'processing' then return {0} end
if mode ~= 'force' and (cur == 'finished' or cur == 'failed' or cur == 'cancelled') then return {0} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + nstatus))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'seq', seq, 'src', epoch .. ':' .. ARGV[4], unpack(ARGV, 8 + nstatus))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[6], ARGV[9 + nstatus] .. ' ' .. seq)
return {seq, redis.call('HGET', KEYS[1], 'workflow') or ''}`

export type Fields = Record<string, string | number | undefined>

export interface EventWrite {
  event: JobEvent
  /** fields for the status hash (updated_at is added) */
  status: Fields
  mode: ApplyMode
  /** fields of the stream entry; empty values are left out */
  entry: Fields
}

export type WriteResult = { outcome: 'written', seq: number, workflow: string } | { outcome: 'duplicate' | 'refused' }

export class EventWriter {
  readonly #redis: Redis
  readonly #ttlSeconds: number

  constructor (redis: Redis, ttlSeconds: number) {
    this.#redis = redis
    this.#ttlSeconds = ttlSeconds
    if (typeof (redis as any).ingestJobEvent !== 'function') {
      redis.defineCommand('ingestJobEvent', { numberOfKeys: 2, lua: INGEST_SCRIPT })
    }
  }

  async write (w: EventWrite): Promise<WriteResult> {
    return toResult(await (this.#redis as any).ingestJobEvent(...this.#args(w)))
  }

  /**
   * Several writes in one round trip, applied by Redis in order. Returns the results of the writes
   * that succeeded, in order, up to the first failure, and that failure (the rest count as not done).
   */
  async writeMany (writes: EventWrite[]): Promise<{ results: WriteResult[], error?: Error }> {
    const pipeline = this.#redis.pipeline()
    for (const w of writes) (pipeline as any).ingestJobEvent(...this.#args(w))
    const results: WriteResult[] = []
    let replies: Array<[Error | null, unknown]> | null
    try {
      replies = await pipeline.exec()
    } catch (err) {
      return { results, error: err as Error }
    }
    if (replies === null) return { results, error: new Error('redis pipeline was not executed') }
    for (const [err, reply] of replies) {
      if (err) return { results, error: err }
      results.push(toResult(reply))
    }
    return { results }
  }

  /** The job's status in the hash, or null when there is no hash. */
  async status (jobId: string): Promise<string | null> {
    return this.#redis.hget(statusKey(jobId), 'status')
  }

  #args (w: EventWrite): Array<string | number> {
    const { event } = w
    // the hash takes empty strings (they clear a field); the stream entry leaves them out
    const status = flatten({ ...w.status, updated_at: new Date().toISOString() }, true)
    const entry = flatten(w.entry, false)
    return [
      statusKey(event.job_id), eventsStreamKey(event.job_id),
      this.#ttlSeconds, w.mode, event.epoch, event.seq, MAX_EVENTS_PER_JOB, EVENTS_CHANNEL, status.length,
      ...status, 'job_id', event.job_id, ...entry
    ]
  }
}

function flatten (fields: Fields, keepEmpty: boolean): string[] {
  const flat: string[] = []
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || (!keepEmpty && (v === '' || k === 'job_id'))) continue
    flat.push(k, String(v))
  }
  return flat
}

function toResult (reply: unknown): WriteResult {
  const [code, workflow] = reply as [number, string?]
  if (code === -1) return { outcome: 'duplicate' }
  if (code === 0) return { outcome: 'refused' }
  return { outcome: 'written', seq: Number(code), workflow: workflow ?? '' }
}
