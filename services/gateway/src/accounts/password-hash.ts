import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const KEY_BYTES = 32
const SALT_BYTES = 16
const R = 8
const P = 1
/** `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`, salt and hash base64url: a hash names the parameters it was made with */
const STORED = /^scrypt\$(\d{1,2})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,64})\$([A-Za-z0-9_-]{40,90})$/

function derive (password: string, salt: Buffer, logN: number, r: number, p: number, length: number): Promise<Buffer> {
  // scrypt needs 128·N·r bytes; node's default ceiling (32 MiB) is just below what N=2^15, r=8 takes
  const options: ScryptOptions = { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r + 1024 * 1024 }
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, length, options, (err, key) => err ? reject(err) : resolve(key)))
}

/**
 * Passwords as salted scrypt hashes (memory-hard; node:crypto, on libuv's thread pool). `logN` is the
 * cost of new hashes (PASSWORD_SCRYPT_LOG_N); old hashes keep verifying with the cost they name.
 */
export class PasswordHasher {
  readonly #logN: number

  constructor (logN: number) {
    this.#logN = logN
  }

  async hash (password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES)
    const key = await derive(password, salt, this.#logN, R, P, KEY_BYTES)
    return `scrypt$${this.#logN}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`
  }

  /** Whether `password` is the one `stored` was made from; false for a stored value it cannot read. */
  async verify (password: string, stored: string): Promise<boolean> {
    const m = STORED.exec(stored)
    if (m === null) return false
    const [logN, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
    if (logN < 10 || logN > 22 || r < 1 || r > 32 || p < 1 || p > 16) return false
    const expected = Buffer.from(m[5], 'base64url')
    const key = await derive(password, Buffer.from(m[4], 'base64url'), logN, r, p, expected.length)
    return timingSafeEqual(key, expected)
  }

  /** Costs what a verify costs, for a login whose email is unknown (so timing does not tell which emails exist). */
  async waste (password: string): Promise<void> {
    await derive(password, randomBytes(SALT_BYTES), this.#logN, R, P, KEY_BYTES)
  }
}
