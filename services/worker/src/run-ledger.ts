import type { Redis } from 'ioredis'

/**
 * Begins a run in the job's queue entry: a `runs` field in BullMQ's job hash, incremented in the
 * same script that checks the limit, so two workers that both hold the job (one lost its lock) get
 * different numbers, and a hand-out that never began a run (its worker died first, or gave it back
 * because the engine was not ready) is not counted. The field goes with the hash: a new queue entry
 * (the sweeper's re-enqueue) starts at 0 and carries the database's count as prior_attempts.
 * The run is recorded under its hand-out's token too (`run:<token>`): a script that ran but whose
 * answer was lost with the connection is sent again by ioredis, and must not count the run twice.
 */
const BEGIN_RUN_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, 0} end
local mine = redis.call('HGET', KEYS[1], 'run:' .. ARGV[2])
if mine then return {1, tonumber(mine)} end
local runs = tonumber(redis.call('HGET', KEYS[1], 'runs') or '0')
if runs >= tonumber(ARGV[1]) then return {0, runs} end
runs = redis.call('HINCRBY', KEYS[1], 'runs', 1)
redis.call('HSET', KEYS[1], 'run:' .. ARGV[2], runs)
return {1, runs}
`

export type RunStart =
  /** the run begins: it is run `attempt` of the job */
  | { kind: 'begun', attempt: number }
  /** MAX_ATTEMPTS runs already began: this one must not; `runs` is how many did */
  | { kind: 'exhausted', runs: number }
  /** the queue entry no longer exists (Redis lost it): nothing can be counted, so nothing runs */
  | { kind: 'gone' }

export class RunLedger {
  readonly #redis: Redis
  readonly #maxAttempts: number

  constructor (redis: Redis, maxAttempts: number) {
    this.#redis = redis
    this.#maxAttempts = maxAttempts
  }

  /**
   * `jobKey`: the BullMQ job hash; `handOut`: the hand-out's lock token (one hand-out, at most one
   * run); `priorAttempts`: the runs the database had counted when this queue entry was made. Runs
   * of the job are numbered prior + the entry's own runs.
   */
  async begin (jobKey: string, handOut: string, priorAttempts: number): Promise<RunStart> {
    const allowed = this.#maxAttempts - priorAttempts
    const [outcome, runs] = await this.#redis.eval(BEGIN_RUN_SCRIPT, 1, jobKey, allowed, handOut) as [number, number]
    if (outcome === -1) return { kind: 'gone' }
    if (outcome === 0) return { kind: 'exhausted', runs: priorAttempts + runs }
    return { kind: 'begun', attempt: priorAttempts + runs }
  }
}
