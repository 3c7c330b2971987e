import { createHash, randomBytes } from 'node:crypto'

/** Every secret starts so: recognisable in a leaked log or a secret scanner. */
export const SECRET_PREFIX = 'cj_live_'
/** 32 random bytes (256 bits), base64url. */
const SECRET = /^cj_live_[A-Za-z0-9_-]{43}$/

export function newSecret (): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url')
}

export function isWellFormedSecret (secret: string): boolean {
  return SECRET.test(secret)
}

/**
 * What is stored and looked up: SHA-256 of the secret. A secret has 256 random bits, so a fast hash
 * is enough (no password stretching: there is nothing to guess), and a lookup needs no scan.
 */
export function secretHash (secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

/** What a listing shows of a key: its prefix and four more characters. */
export function displayPrefix (secret: string): string {
  return secret.slice(0, SECRET_PREFIX.length + 4)
}
