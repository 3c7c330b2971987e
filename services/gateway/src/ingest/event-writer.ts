import type { Redis } from 'ioredis'
import type { JobEvent } from '@comfy-jobs/rpc'
import { EVENTS_CHANNEL, eventsStreamKey, statusKey } from '@comfy-jobs/contracts'
import { REFUSED_BY_STATUS_RULES, type ApplyMode } from '../jobs/status-cache.ts'
import { HISTORY_HEAD, MAX_EVENTS_PER_JOB } from '../jobs/job-event-log.ts'
import type { EventPosition } from '../jobs/event-position.ts'

/**
 * One worker event into Redis in one step: the status hash (StatusCache's rules), the
 * job's event stream and the wake-up. Each stream entry carries `src` = the worker's `epoch:seq`, so
 * an event that is delivered again (replay after a gateway crash, retry after a lost reply) finds
 * itself as the newest entry and is skipped: nothing is written twice and progress never steps back.
 * Returns {-1} (duplicate), {0} (refused by the status rules) or {stream seq, workflow, history epoch}.
 */
const INGEST_SCRIPT = `${HISTORY_HEAD}
local ttl, mode, wepoch, wseq = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local nstatus = tonumber(ARGV[7])
local seq, epoch, kv = historyHead(KEYS[2])
if kv then
  for i = 1, #kv, 2 do
    if kv[i] == 'src' then
      local e, s = string.match(kv[i + 1], '^(.*):(%d+)$')
      if e == wepoch and tonumber(s) >= wseq then return {-1} end
    end
  end
end
seq = seq + 1
local cur = redis.call('HGET', KEYS[1], 'status')
if ${REFUSED_BY_STATUS_RULES} then return {0} end
redis.call('HSET', KEYS[1], unpack(ARGV, 8, 7 + nstatus))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], seq .. '-' .. epoch, 'seq', seq, 'src', wepoch .. ':' .. ARGV[4], unpack(ARGV, 8 + nstatus))
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[6], ARGV[9 + nstatus] .. ' ' .. seq)
return {seq, redis.call('HGET', KEYS[1], 'workflow') or '', epoch}`

/**
 * A run of one job's PROGRESS events in one step: each new one appended to the stream (skipping those
 * at or below the `epoch:seq` the stream already holds, as above), the hash set once to the newest,
 * and one wake-up with the last stream seq: wake-ups are only wake-ups, watchers read the stream.
 * Nothing is written unless the hash says processing. ARGV: ttl, maxlen, channel, job_id, epoch,
 * updated_at, then per event: seq, progress, step, total_steps, node, at. Returns {written, last seq}.
 */
const PROGRESS_RUN_SCRIPT = `${HISTORY_HEAD}
local ttl, maxlen, channel, jobId, wepoch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local seq, epoch, kv = historyHead(KEYS[2])
local done = -1
for i = 1, kv and #kv or 0, 2 do
  if kv[i] == 'src' then
    local e, s = string.match(kv[i + 1], '^(.*):(%d+)$')
    if e == wepoch then done = tonumber(s) end
  end
end
if redis.call('HGET', KEYS[1], 'status') ~= 'processing' then return {0, seq} end
local written, newest = 0, 0
for i = 7, #ARGV, 6 do
  if tonumber(ARGV[i]) > done then
    seq = seq + 1
    local fields = {'seq', seq, 'src', wepoch .. ':' .. ARGV[i], 'job_id', jobId, 'type', 'progress', 'status', 'processing',
      'progress', ARGV[i + 1], 'step', ARGV[i + 2], 'total_steps', ARGV[i + 3]}
    if ARGV[i + 4] ~= '' then fields[#fields + 1] = 'node'; fields[#fields + 1] = ARGV[i + 4] end
    fields[#fields + 1] = 'at'; fields[#fields + 1] = ARGV[i + 5]
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, seq .. '-' .. epoch, unpack(fields))
    written, newest = written + 1, i
  end
end
if written == 0 then return {0, seq} end
redis.call('HSET', KEYS[1], 'progress', ARGV[newest + 1], 'step', ARGV[newest + 2], 'total_steps', ARGV[newest + 3], 'node', ARGV[newest + 4], 'updated_at', ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', channel, jobId .. ' ' .. seq)
return {written, seq}`

export type Fields = Record<string, string | number | undefined>

export interface EventWrite {
  event: JobEvent
  /** fields for the status hash (updated_at is added) */
  status: Fields
  mode: ApplyMode
  /** fields of the stream entry; empty values are left out */
  entry: Fields
}

export type WriteResult = { outcome: 'written', at: EventPosition, workflow: string } | { outcome: 'duplicate' | 'refused' }

export class EventWriter {
  readonly #redis: Redis
  readonly #ttlSeconds: number

  constructor (redis: Redis, ttlSeconds: number) {
    this.#redis = redis
    this.#ttlSeconds = ttlSeconds
    if (typeof (redis as any).ingestJobEvent !== 'function') {
      redis.defineCommand('ingestJobEvent', { numberOfKeys: 2, lua: INGEST_SCRIPT })
      redis.defineCommand('ingestProgressRun', { numberOfKeys: 2, lua: PROGRESS_RUN_SCRIPT })
    }
  }

  async write (w: EventWrite): Promise<WriteResult> {
    return toResult(await (this.#redis as any).ingestJobEvent(...this.#args(w)))
  }

  /** PROGRESS events of one job, in seq order, in one round trip; all or nothing. Returns how many were new. */
  async writeProgressRun (events: JobEvent[]): Promise<number> {
    const { job_id: jobId, epoch } = events[0]
    const args: Array<string | number> = [
      statusKey(jobId), eventsStreamKey(jobId),
      this.#ttlSeconds, MAX_EVENTS_PER_JOB, EVENTS_CHANNEL, jobId, epoch, new Date().toISOString()
    ]
    for (const e of events) args.push(e.seq, e.progress, e.step, e.total_steps, e.node, new Date(e.at_ms).toISOString())
    const [written] = await (this.#redis as any).ingestProgressRun(...args) as [number, number]
    return written
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
  const [code, workflow, epoch] = reply as [number, string?, string?]
  if (code === -1) return { outcome: 'duplicate' }
  if (code === 0) return { outcome: 'refused' }
  return { outcome: 'written', at: { epoch: epoch!, seq: Number(code) }, workflow: workflow ?? '' }
}
