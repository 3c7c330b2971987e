import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'

const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`

/** A Redis lease: at most one holder at a time, lost by a holder that stops renewing it. */
export class RedisLease {
  readonly #redis: Redis
  readonly #key: string
  readonly #ttlMs: number
  readonly #token = randomUUID()

  constructor (redis: Redis, key: string, ttlMs: number) {
    this.#redis = redis
    this.#key = key
    this.#ttlMs = ttlMs
  }

  /** Takes the lease if free, renews it if held; true while this process holds it. */
  async acquire (): Promise<boolean> {
    const renewed = await this.#redis.eval(RENEW_SCRIPT, 1, this.#key, this.#token, this.#ttlMs)
    if (renewed === 1) return true
    return (await this.#redis.set(this.#key, this.#token, 'PX', this.#ttlMs, 'NX')) === 'OK'
  }

  async release (): Promise<void> {
    await this.#redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.#key, this.#token)
  }
}
