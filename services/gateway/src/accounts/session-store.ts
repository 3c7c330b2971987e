import { createHash, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { sessionKey, userSessionsKey } from '@comfy-jobs/contracts'

export interface Session {
  userId: number
  createdAt: string
}

const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex')

/**
 * Login sessions in Redis: a random id (the cookie's value) → the user, for `ttlSeconds`. Logout
 * deletes the session; `revokeAll` deletes every session of a user. Every gateway sharing the Redis
 * sees a session at once.
 */
export class SessionStore {
  readonly #redis: Redis
  readonly #queueName: string
  readonly ttlSeconds: number

  constructor (redis: Redis, queueName: string, ttlSeconds: number) {
    this.#redis = redis
    this.#queueName = queueName
    this.ttlSeconds = ttlSeconds
  }

  /** A new session of `userId`; its id is the cookie's value and is stored only as a hash. */
  async create (userId: number): Promise<string> {
    const id = randomBytes(32).toString('base64url')
    const hash = hashOf(id)
    const value: Session = { userId, createdAt: new Date().toISOString() }
    const userKey = userSessionsKey(this.#queueName, userId)
    await this.#redis.multi()
      .set(sessionKey(this.#queueName, hash), JSON.stringify(value), 'EX', this.ttlSeconds)
      .sadd(userKey, hash)
      .expire(userKey, this.ttlSeconds)
      .exec()
      .then(throwFirstError)
    return id
  }

  /** The session with this id, or null (unknown, expired or revoked); rejects when Redis cannot be asked. */
  async find (id: string): Promise<Session | null> {
    const raw = await this.#redis.get(sessionKey(this.#queueName, hashOf(id)))
    if (raw === null) return null
    const parsed = JSON.parse(raw) as Session
    return Number.isInteger(parsed.userId) ? parsed : null
  }

  /** Ends a session (logout); nothing when there is none. */
  async revoke (id: string): Promise<void> {
    const hash = hashOf(id)
    const key = sessionKey(this.#queueName, hash)
    const raw = await this.#redis.get(key)
    const userId = raw === null ? null : (JSON.parse(raw) as Session).userId
    const tx = this.#redis.multi().del(key)
    if (userId !== null) tx.srem(userSessionsKey(this.#queueName, userId), hash)
    await tx.exec().then(throwFirstError)
  }

  /** Ends every session of a user; answers how many there were. */
  async revokeAll (userId: number): Promise<number> {
    const userKey = userSessionsKey(this.#queueName, userId)
    const hashes = await this.#redis.smembers(userKey)
    const tx = this.#redis.multi()
    for (const hash of hashes) tx.del(sessionKey(this.#queueName, hash))
    const results = await tx.del(userKey).exec().then(throwFirstError)
    return results.slice(0, hashes.length).reduce((n, [, deleted]) => n + Number(deleted), 0)
  }
}

function throwFirstError (results: Array<[Error | null, unknown]> | null): Array<[Error | null, unknown]> {
  if (results === null) throw new Error('Redis transaction aborted')
  const failed = results.find(([err]) => err !== null)
  if (failed) throw failed[0]
  return results
}
