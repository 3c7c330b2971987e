import type { Redis } from 'ioredis'
import { EVENTS_CHANNEL, eventsStreamKey, isTerminal } from '@comfy-jobs/contracts'
import { LEGACY_EPOCH, type EventPosition } from './event-position.ts'

/** The fields of one job event as watchers see it; empty strings are omitted. */
export type JobEventFields = Record<string, string | number>

export interface StoredJobEvent {
  at: EventPosition
  fields: Record<string, string>
}

/** The newest event of a job's history: where the history stands, and whether that event ends the job. */
export interface HistoryHead extends EventPosition {
  terminal: boolean
}

/** The job's event history could not be read or written (Redis is down, hung or lost the connection). */
export class EventsUnavailableError extends Error {
  constructor (cause: unknown) {
    super(`job events unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'EventsUnavailableError'
  }
}

/**
 * Lua: the newest entry of a job's stream, as `seq, epoch, fields`. Entry ids are `<seq>-<epoch>`,
 * so a history's epoch lives and dies with its entries. An empty stream gives seq 0 and a new epoch
 * (the clock in microseconds, kept as text), which the first entry appended then carries. Every
 * script that appends to a history starts from this.
 */
export const HISTORY_HEAD = `
local function historyHead (key)
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #last == 0 then
    local now = redis.call('TIME')
    return 0, now[1] .. string.format('%06d', tonumber(now[2])), nil
  end
  local seq, epoch = string.match(last[1][1], '^(%d+)-(%d+)$')
  return tonumber(seq), epoch, last[1][2]
end`

// seq = last entry's seq + 1; the stream keeps the newest MAXLEN entries and lives as long as the status.
const APPEND_SCRIPT = `${HISTORY_HEAD}
local seq, epoch = historyHead(KEYS[1])
seq = seq + 1
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], seq .. '-' .. epoch, 'seq', seq, unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[5] .. ' ' .. seq)
return {seq, epoch}`

/**
 * The newest entry, and the entries after seq ARGV[2] if the history is epoch ARGV[1]'s (seq 0 is
 * in every history); only the newest entry when it is another history. Empty when there is none.
 */
const READ_SCRIPT = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then return {} end
if ARGV[2] ~= '0' and string.match(last[1][1], '-(%d+)$') ~= ARGV[1] then return {last[1]} end
return {last[1], redis.call('XRANGE', KEYS[1], (tonumber(ARGV[2]) + 1) .. '-0', '+')}`

export const MAX_EVENTS_PER_JOB = 2000

type RawEntry = [id: string, fields: string[]]

function positionOf (entryId: string): EventPosition {
  const [seq, epoch] = entryId.split('-')
  return { epoch: epoch ?? LEGACY_EPOCH, seq: Number(seq) }
}

function storedEvent ([id, kv]: RawEntry): StoredJobEvent {
  const fields: Record<string, string> = {}
  for (let i = 0; i < kv.length; i += 2) fields[kv[i]] = kv[i + 1]
  return { at: positionOf(id), fields }
}

function headOf (entry: RawEntry): HistoryHead {
  const { at, fields } = storedEvent(entry)
  return { ...at, terminal: isTerminal(fields.type) }
}

/**
 * Every Redis operation on a job's event history: append (with a per-job gap-free seq and a wake-up
 * on the shared channel), read after a position, the newest event. A failure of Redis is an
 * EventsUnavailableError, whatever state the connection is in.
 */
export class JobEventLog {
  readonly #redis: Redis
  readonly #ttlSeconds: number

  constructor (redis: Redis, ttlSeconds: number) {
    this.#redis = redis
    this.#ttlSeconds = ttlSeconds
    if (typeof (redis as any).appendJobEvent !== 'function') {
      redis.defineCommand('appendJobEvent', { numberOfKeys: 1, lua: APPEND_SCRIPT })
      redis.defineCommand('readJobEvents', { numberOfKeys: 1, lua: READ_SCRIPT })
    }
  }

  /** Appends an event; `job_id` goes first so the script can publish it. Returns where it landed. */
  async append (jobId: string, fields: JobEventFields): Promise<EventPosition> {
    const flat: string[] = ['job_id', jobId]
    for (const [k, v] of Object.entries(fields)) {
      if (k !== 'job_id' && v !== '' && v !== undefined) flat.push(k, String(v))
    }
    const [seq, epoch] = await this.#call<[number, string]>((this.#redis as any).appendJobEvent(eventsStreamKey(jobId), this.#ttlSeconds, MAX_EVENTS_PER_JOB, EVENTS_CHANNEL, ...flat))
    return { epoch, seq: Number(seq) }
  }

  /**
   * The history's newest event, and the events after `after`; events is null when `after` is not a
   * place in this history (another epoch's, or beyond its end), so the watcher needs a fresh start.
   */
  async read (jobId: string, after: EventPosition): Promise<{ head: HistoryHead | null, events: StoredJobEvent[] | null }> {
    const reply = await this.#call<[RawEntry?, RawEntry[]?]>((this.#redis as any).readJobEvents(eventsStreamKey(jobId), after.epoch, after.seq))
    const head = reply[0] ? headOf(reply[0]) : null
    if (after.seq === 0) return { head, events: (reply[1] ?? []).map(storedEvent) }
    if (head === null || reply[1] === undefined || after.seq > head.seq) return { head, events: null }
    return { head, events: reply[1].map(storedEvent) }
  }

  async head (jobId: string): Promise<HistoryHead | null> {
    const last = await this.#call<RawEntry[]>(this.#redis.xrevrange(eventsStreamKey(jobId), '+', '-', 'COUNT', 1))
    return last.length > 0 ? headOf(last[0]) : null
  }

  async #call<T> (reply: Promise<unknown>): Promise<T> {
    try {
      return await reply as T
    } catch (err) {
      throw new EventsUnavailableError(err)
    }
  }
}
