import { bool, ConfigError, int, type Env } from '../config.ts'

export interface WebhookConfig {
  /** hosts (exact names or IPs) webhooks may reach over plain http; everything else must be https */
  allowHttpHosts: ReadonlySet<string>
  /** deliver to loopback, private, link-local and metadata addresses too (tests, private networks) */
  allowPrivate: boolean
  /** the first retry's delay; each later one doubles, with jitter, up to retryMaxMs */
  retryBaseMs: number
  retryMaxMs: number
  /** how long an event is retried before it is given up (at least 24 h unless set lower for tests) */
  retryForMs: number
  /** one attempt's bound: connect, send, answer */
  timeoutMs: number
  /** attempts in flight at once, per gateway */
  concurrency: number
  /** how often the outbox is looked at for rows this gateway was not woken for (retries, other gateways) */
  pollMs: number
  /** how long an old secret still signs after a rotation, unless the rotation says otherwise */
  rotationOverlapMs: number
}

function hosts (env: Env): Set<string> {
  const raw = env.WEBHOOK_ALLOW_HTTP_HOSTS ?? ''
  const list = raw.split(',').map(h => h.trim().toLowerCase()).filter(h => h !== '')
  for (const h of list) if (!/^[a-z0-9.:[\]-]+$/.test(h)) throw new ConfigError('WEBHOOK_ALLOW_HTTP_HOSTS', raw, 'expected a comma-separated list of host names or addresses')
  return new Set(list)
}

export function loadWebhookConfig (env: Env): WebhookConfig {
  const retryBaseMs = int(env, 'WEBHOOK_RETRY_BASE_MS', 5000, 1, 3600_000)
  const retryMaxMs = int(env, 'WEBHOOK_RETRY_MAX_MS', 3600_000, 1, 24 * 3600_000)
  if (retryMaxMs < retryBaseMs) throw new ConfigError('WEBHOOK_RETRY_MAX_MS', String(retryMaxMs), 'expected at least WEBHOOK_RETRY_BASE_MS')
  return {
    allowHttpHosts: hosts(env),
    allowPrivate: bool(env, 'WEBHOOK_ALLOW_PRIVATE', false),
    retryBaseMs,
    retryMaxMs,
    retryForMs: int(env, 'WEBHOOK_RETRY_FOR_MS', 25 * 3600_000, 1000, 30 * 24 * 3600_000),
    timeoutMs: int(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 50, 120_000),
    concurrency: int(env, 'WEBHOOK_CONCURRENCY', 16, 1, 1000),
    pollMs: int(env, 'WEBHOOK_POLL_MS', 1000, 10, 60_000),
    rotationOverlapMs: int(env, 'WEBHOOK_ROTATION_OVERLAP_MS', 24 * 3600_000, 0, 30 * 24 * 3600_000)
  }
}
