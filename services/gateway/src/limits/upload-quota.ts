import type { Redis } from 'ioredis'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { uploadQuotaKey } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { withDeadline } from '../deadline.ts'

/**
 * One owner's hash of stored name → `bytes:storedAtMs`: drops the fields older than the window,
 * then either takes the file (a name already there costs nothing new; its time is renewed, as the
 * file's own retention is) or refuses it when it would pass a limit. Atomic, so gateways sharing
 * Redis share each owner's quota. Returns {taken (1|0), files, bytes, the oldest counted upload's time}.
 */
const CHARGE_SCRIPT = `
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local name, size = ARGV[3], tonumber(ARGV[4])
local maxFiles, maxBytes = tonumber(ARGV[5]), tonumber(ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
local files, bytes, known, oldest = 0, 0, false, now
for i = 1, #all, 2 do
  local b, at = string.match(all[i + 1], '^(%d+):(%d+)$')
  if b == nil or (window > 0 and tonumber(at) + window <= now) then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] == name then
    known = true
  else
    files = files + 1
    bytes = bytes + tonumber(b)
    if tonumber(at) < oldest then oldest = tonumber(at) end
  end
end
if not known and ((maxFiles > 0 and files + 1 > maxFiles) or (maxBytes > 0 and bytes + size > maxBytes)) then
  return {0, files, bytes, oldest}
end
redis.call('HSET', KEYS[1], name, size .. ':' .. now)
if window > 0 then redis.call('PEXPIRE', KEYS[1], window) end
return {1, files + 1, bytes + size, oldest}
`

export interface UploadQuotaOptions {
  redis: Redis
  queueName: string
  /** UPLOAD_MAX_FILES_PER_OWNER, UPLOAD_MAX_BYTES_PER_OWNER; 0: that one is off */
  maxFiles: number
  maxBytes: number
  /** UPLOAD_RETENTION_SECONDS in ms: an upload counts this long after it was stored; 0: for ever */
  windowMs: number
  timeoutMs: number
  logger: Logger
}

/**
 * Uploads per owner (files and bytes) within the retention window, in Redis so every gateway sees
 * the same count. A file is charged once it is checked and hashed, before it is put in place; a
 * refusal leaves nothing. When Redis cannot be asked the upload goes on (logged): the rate limit and
 * retention still bound it, and an upload needs nothing else from Redis.
 */
export class UploadQuota {
  readonly #o: UploadQuotaOptions

  constructor (options: UploadQuotaOptions) {
    this.#o = options
    if (typeof (options.redis as any).chargeUpload !== 'function') {
      options.redis.defineCommand('chargeUpload', { numberOfKeys: 1, lua: CHARGE_SCRIPT })
    }
  }

  get enabled (): boolean {
    return this.#o.maxFiles > 0 || this.#o.maxBytes > 0
  }

  /** Counts `name` (`bytes` long) against `owner`'s quota, or throws UPLOAD_QUOTA_EXCEEDED. */
  async charge (owner: string, name: string, bytes: number): Promise<void> {
    if (!this.enabled) return
    const { maxFiles, maxBytes, windowMs } = this.#o
    let answer: [number, number, number, number]
    try {
      const call = (this.#o.redis as any).chargeUpload(uploadQuotaKey(this.#o.queueName, owner), Date.now(), windowMs, name, bytes, maxFiles, maxBytes) as Promise<[number, number, number, number]>
      answer = await withDeadline(call, this.#o.timeoutMs, 'upload quota')
    } catch (err) {
      this.#o.logger.warn({ owner, err: (err as Error).message }, 'upload quota could not be checked (Redis); upload goes on')
      return
    }
    const [taken, files, used, oldest] = answer
    if (taken === 1) return
    this.#o.logger.warn({ owner, files, bytes: used, size: bytes }, 'owner upload quota reached; upload refused')
    const window = windowMs > 0 ? `the last ${windowMs / 1000} s (UPLOAD_RETENTION_SECONDS)` : 'all time (UPLOAD_RETENTION_SECONDS=0)'
    throw new AppError('UPLOAD_QUOTA_EXCEEDED', {
      // room comes back when the oldest counted upload leaves the window
      headers: windowMs > 0 ? { 'retry-after': String(Math.max(1, Math.ceil((oldest + windowMs - Date.now()) / 1000))) } : {},
      details: `this owner has stored ${files} files, ${used} bytes in ${window}; this file (${bytes} bytes) would pass UPLOAD_MAX_FILES_PER_OWNER=${maxFiles} or UPLOAD_MAX_BYTES_PER_OWNER=${maxBytes} (0: no limit)`
    })
  }
}
