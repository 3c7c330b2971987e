/** A client's bucket is forgotten once it has been full (unused) this long. */
const IDLE_FORGET_MS = 120_000

interface Bucket { tokens: number, at: number }

/**
 * Submits per client per minute, as a token bucket per key (a burst of up to `perMinute`, then one
 * every 60/perMinute s). The key is whatever names the client: its address today, its API key's id
 * once keys exist. In process memory on purpose, like the REST limiter: a limiter must not fail
 * when Redis does.
 */
export class SubmitRateLimiter {
  readonly perMinute: number
  readonly #buckets = new Map<string, Bucket>()
  #lastPrune = Date.now()

  /** perMinute 0: no limit */
  constructor (perMinute: number) {
    this.perMinute = perMinute
  }

  /** Takes one submit for `key`: 0 when allowed, else the seconds to wait before one is. */
  take (key: string, now = Date.now()): number {
    if (this.perMinute === 0) return 0
    this.#prune(now)
    const perMs = this.perMinute / 60_000
    const bucket = this.#buckets.get(key) ?? { tokens: this.perMinute, at: now }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * perMs)
    bucket.at = now
    this.#buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000))
  }

  #prune (now: number): void {
    if (now - this.#lastPrune < IDLE_FORGET_MS) return
    this.#lastPrune = now
    const perMs = this.perMinute / 60_000
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * perMs >= this.perMinute && now - bucket.at > IDLE_FORGET_MS) this.#buckets.delete(key)
    }
  }
}
