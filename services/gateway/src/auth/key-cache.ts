import { isWellFormedSecret, secretHash, type ActiveKey } from '@comfy-jobs/db'

export interface KeyLookup {
  findActive: (hash: string) => Promise<ActiveKey | null>
  touch: (id: string, at: Date) => Promise<void>
}

interface Entry {
  key: ActiveKey | null
  until: number
}

const MAX_ENTRIES = 10_000
/** last_used_at is written at most this often per key: it says roughly when, not every use. */
const TOUCH_EVERY_MS = 60_000

/**
 * API keys by secret, remembered for `ttlMs` (unknown secrets too, so a flood of wrong keys does not
 * reach the database): a revoked key stops working within `ttlMs` on every gateway, and at once on the
 * gateway that revoked it (evict). Concurrent lookups of one secret share one query.
 */
export class KeyCache {
  readonly #lookup: KeyLookup
  readonly #ttlMs: number
  readonly #entries = new Map<string, Entry>()
  readonly #inFlight = new Map<string, Promise<ActiveKey | null>>()
  readonly #touched = new Map<string, number>()
  readonly #onTouchError: (err: unknown) => void

  constructor (lookup: KeyLookup, ttlMs: number, onTouchError: (err: unknown) => void) {
    this.#lookup = lookup
    this.#ttlMs = ttlMs
    this.#onTouchError = onTouchError
  }

  /** The active key with this secret, or null; rejects when the database cannot be asked. */
  async resolve (secret: string): Promise<ActiveKey | null> {
    if (!isWellFormedSecret(secret)) return null
    const hash = secretHash(secret)
    const now = Date.now()
    const hit = this.#entries.get(hash)
    const key = hit !== undefined && hit.until > now ? hit.key : await this.#load(hash, now)
    if (key !== null) this.#touch(key.id, now)
    return key
  }

  /** Forgets a key at once (it was revoked here). */
  evict (keyId: string): void {
    for (const [hash, entry] of this.#entries) if (entry.key?.id === keyId) this.#entries.delete(hash)
  }

  #load (hash: string, now: number): Promise<ActiveKey | null> {
    let pending = this.#inFlight.get(hash)
    if (pending === undefined) {
      pending = this.#lookup.findActive(hash).then(key => {
        if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!)
        this.#entries.set(hash, { key, until: now + this.#ttlMs })
        return key
      }).finally(() => this.#inFlight.delete(hash))
      this.#inFlight.set(hash, pending)
    }
    return pending
  }

  #touch (id: string, now: number): void {
    if ((this.#touched.get(id) ?? 0) + TOUCH_EVERY_MS > now) return
    this.#touched.set(id, now)
    this.#lookup.touch(id, new Date(now)).catch(this.#onTouchError)
  }
}
