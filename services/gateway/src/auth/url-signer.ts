import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Short-lived signed URLs for what a browser fetches without headers (EventSource, <img>, <video>):
 * `?exp=<unix seconds>&sig=<HMAC-SHA256(path, exp)>`. The API key never appears in a URL; a signed
 * URL opens one path until it expires. Gateways that share AUTH_URL_SECRET accept each other's URLs.
 */
export class UrlSigner {
  readonly #secret: Buffer
  readonly ttlSeconds: number

  constructor (secret: Buffer, ttlSeconds: number) {
    this.#secret = secret
    this.ttlSeconds = ttlSeconds
  }

  sign (path: string, now = Date.now()): { url: string, expiresAt: Date } {
    const exp = Math.floor(now / 1000) + this.ttlSeconds
    return { url: `${path}?exp=${exp}&sig=${this.#mac(path, exp)}`, expiresAt: new Date(exp * 1000) }
  }

  /** Whether `sig` signs `path` until `exp`, and `exp` has not passed. */
  verify (path: string, exp: string, sig: string, now = Date.now()): boolean {
    if (!/^\d{1,12}$/.test(exp) || Number(exp) * 1000 <= now) return false
    const expected = Buffer.from(this.#mac(path, Number(exp)))
    const given = Buffer.from(sig)
    return given.length === expected.length && timingSafeEqual(given, expected)
  }

  #mac (path: string, exp: number): string {
    return createHmac('sha256', this.#secret).update(`${path}\n${exp}`).digest('base64url')
  }
}
