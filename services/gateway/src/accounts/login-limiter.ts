import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { loginAttemptsKey } from '@comfy-jobs/contracts'

export interface LoginLimits {
  perEmail: number
  perIp: number
  windowSeconds: number
}

/**
 * Login attempts per email and per client address, counted in Redis (so every gateway counts the
 * same attempts) in a fixed window that starts with the first attempt. Every attempt counts when it
 * is made (so parallel guesses count too); a successful one is given back. Past either limit a login
 * is refused, before its password is even checked, until the window ends. A limit of 0: none.
 */
export class LoginLimiter {
  readonly #redis: Redis
  readonly #queueName: string
  readonly #limits: LoginLimits

  constructor (redis: Redis, queueName: string, limits: LoginLimits) {
    this.#redis = redis
    this.#queueName = queueName
    this.#limits = limits
  }

  #keys (email: string, ip: string): { email: string, ip: string } {
    const emailHash = createHash('sha256').update(email).digest('hex').slice(0, 32)
    return { email: loginAttemptsKey(this.#queueName, 'email', emailHash), ip: loginAttemptsKey(this.#queueName, 'ip', ip) }
  }

  /** Counts an attempt: 0 when it may go on, else the seconds until one may (Retry-After). */
  async attempt (email: string, ip: string): Promise<{ retryAfter: number, limit: 'email' | 'ip' | null }> {
    const keys = this.#keys(email, ip)
    const window = this.#limits.windowSeconds
    const results = await this.#redis.multi()
      .incr(keys.email).expire(keys.email, window, 'NX').pttl(keys.email)
      .incr(keys.ip).expire(keys.ip, window, 'NX').pttl(keys.ip)
      .exec()
    if (results === null) throw new Error('Redis transaction aborted')
    const failed = results.find(([err]) => err !== null)
    if (failed) throw failed[0]
    const value = (i: number) => Number(results[i][1])
    const over = (count: number, max: number) => max > 0 && count > max
    const seconds = (pttl: number) => Math.max(1, Math.ceil(pttl / 1000))
    if (over(value(0), this.#limits.perEmail)) return { retryAfter: seconds(value(2)), limit: 'email' }
    if (over(value(3), this.#limits.perIp)) return { retryAfter: seconds(value(5)), limit: 'ip' }
    return { retryAfter: 0, limit: null }
  }

  /** A login that succeeded: its email starts afresh, and it does not count against its address. */
  async succeeded (email: string, ip: string): Promise<void> {
    const keys = this.#keys(email, ip)
    await this.#redis.multi().del(keys.email).decr(keys.ip).exec()
  }
}
