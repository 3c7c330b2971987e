import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { parseDatabaseUrl, type DatabaseLocation } from '@comfy-jobs/db'
import { DEFAULT_QUEUE_NAME } from '@comfy-jobs/contracts'
import { loadWebhookConfig, type WebhookConfig } from './webhooks/webhook-config.ts'
import type { WorkerLinkSecurity } from '@comfy-jobs/rpc'

export interface GatewayConfig {
  databaseUrl: string
  database: DatabaseLocation
  redisUrl: string
  host: string
  port: number
  grpcHost: string
  grpcPort: number
  workerAddresses: string[]
  /** what this gateway presents to its workers (WORKER_LINK_TOKEN, WORKER_TLS_*) */
  workerLink: WorkerLinkSecurity
  /** link to the workers of the queue's registry too, not only to WORKER_ADDRESSES */
  workerDiscovery: boolean
  outputDir: string
  statusTtlSeconds: number
  logLevel: string
  queueName: string
  queuePushTimeoutMs: number
  redisCommandTimeoutMs: number
  dbPoolSize: number
  txMaxWaitMs: number
  txTimeoutMs: number
  submitOutcomeTimeoutMs: number
  /** submit group commit: most jobs in one transaction (1: none grouped), transactions at once, longest wait */
  submitGroupMax: number
  submitGroupsInFlight: number
  submitGroupMaxWaitMs: number
  migrateOnStart: boolean
  /** how long loading every plugin (probes, migrations included) may take before start-up gives up */
  startupTimeoutMs: number
  progressDbIntervalMs: number
  bodyLimitBytes: number
  /** POST /api/generate's own body limit: input files may come inline as data: URLs (the original pages' form) */
  generateBodyLimitBytes: number
  gatewayId: string
  sweepIntervalMs: number
  sweepGraceMs: number
  sweepPageSize: number
  sweepPagesPerPass: number
  maxAttempts: number
  submitRateLimitPerMinute: number
  uploadDir: string
  /** a directory of static pages served at / instead of the built-in page (e.g. the original pages); null: the built-in page */
  webRoot: string | null
  uploadMaxBytes: number
  /** the most pixels an input image may have (read from its header), and the longest side */
  inputMaxPixels: number
  inputMaxSide: number
  sseKeepAliveMs: number
  /** raw ComfyUI graphs (`workflow_graph`) are taken at submit; off unless ALLOW_RAW_GRAPHS=true */
  allowRawGraphs: boolean
  /** the largest raw graph taken, as JSON */
  rawGraphMaxBytes: number
  webhooks: WebhookConfig
  /** origins whose pages may call the API (CORS, and state-changing requests from another site); none by default */
  corsOrigins: string[]
  /** jobs waiting in the queue (not running) beyond which submits are answered 503 QUEUE_FULL; 0: no limit */
  maxQueueDepth: number
  /** uploads no live job references are deleted this long after they were last stored or used; 0: kept for ever */
  uploadRetentionSeconds: number
  /** uploads per client per minute; 0: no limit */
  uploadRateLimitPerMinute: number
  /** queued + processing jobs an owner may have; a submit past it is 429 TOO_MANY_LIVE_JOBS; 0: no limit (and none while auth is off) */
  maxLiveJobsPerOwner: number
  /** files and bytes an owner may upload within UPLOAD_RETENTION_SECONDS (429 UPLOAD_QUOTA_EXCEEDED); 0: no limit (and none while auth is off) */
  uploadMaxFilesPerOwner: number
  uploadMaxBytesPerOwner: number
  /** AUTH: required, off, or auto (unset: open only while every listen address is loopback) */
  auth: 'required' | 'off' | 'auto'
  /** how long a checked API key is trusted before it is looked up again: the bound on revocation */
  authKeyCacheMs: number
  /** the HMAC key of signed URLs (AUTH_URL_SECRET); null: a random one per process */
  authUrlSecret: string | null
  authUrlTtlSeconds: number
  /** life of a login session (the cookie's Max-Age and the Redis entry's TTL) */
  sessionTtlSeconds: number
  /** login attempts per email and per client address within loginWindowSeconds (429 past them); 0: no limit */
  loginMaxAttemptsPerEmail: number
  loginMaxAttemptsPerIp: number
  loginWindowSeconds: number
  /** scrypt cost of new password hashes, as log2 N (r=8, p=1) */
  passwordScryptLogN: number
  /** POST /api/register answers 403 when false */
  allowRegistration: boolean
  /** registrations per client address per minute; 0: no limit */
  registerRateLimitPerMinute: number
  /** Fastify's trustProxy: false, true, or the proxies' addresses/CIDRs (request.ip, request.protocol, hence Secure cookies) */
  trustProxy: boolean | string[]
}

export type Env = Record<string, string | undefined>

export class ConfigError extends Error {
  constructor (variable: string, value: string, expected: string) {
    super(`invalid configuration: ${variable}=${JSON.stringify(value)}: ${expected}`)
    this.name = 'ConfigError'
  }
}

export function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, raw, `expected an integer in ${min}..${max}`)
  return n
}

export function bool (env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  if (/^(0|false|no|off)$/i.test(raw)) return false
  throw new ConfigError(name, raw, 'expected true or false')
}

function redisUrl (env: Env): string {
  const raw = env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  let u: URL
  try { u = new URL(raw) } catch { throw new ConfigError('REDIS_URL', raw, 'expected a redis:// URL') }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('REDIS_URL', raw, 'expected a redis:// URL')
  return raw
}

function addresses (env: Env): string[] {
  const raw = env.WORKER_ADDRESSES ?? '127.0.0.1:50051'
  const list = raw.split(',').map(s => s.trim()).filter(Boolean)
  for (const a of list) {
    if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(a)) throw new ConfigError('WORKER_ADDRESSES', raw, 'expected a comma list of host:port')
  }
  return list
}

/** The worker link's credential, configured as on the workers (their config.ts explains when it is required). */
function workerLink (env: Env): WorkerLinkSecurity {
  const token = env.WORKER_LINK_TOKEN?.trim() || null
  if (token !== null && token.length < 16) throw new ConfigError('WORKER_LINK_TOKEN', '(hidden)', 'expected at least 16 characters')
  const files = { cert: env.WORKER_TLS_CERT || undefined, key: env.WORKER_TLS_KEY || undefined, ca: env.WORKER_TLS_CA || undefined }
  const given = Object.values(files).filter(v => v !== undefined).length
  if (given > 0 && given < 3) {
    const missing = Object.entries(files).find(([, v]) => v === undefined)![0].toUpperCase()
    throw new ConfigError(`WORKER_TLS_${missing}`, '', 'WORKER_TLS_CERT, WORKER_TLS_KEY and WORKER_TLS_CA are set together (mutual TLS)')
  }
  return { token, tls: given === 3 ? { cert: files.cert!, key: files.key!, ca: files.ca! } : null }
}

/** Exact origins (scheme, host, port), as browsers send them in `Origin`. */
function origins (env: Env): string[] {
  const raw = env.CORS_ORIGINS ?? ''
  const list = raw.split(',').map(s => s.trim()).filter(Boolean)
  for (const origin of list) {
    let url: URL | null = null
    try { url = new URL(origin) } catch {}
    if (url === null || !['http:', 'https:'].includes(url.protocol) || url.origin !== origin) {
      throw new ConfigError('CORS_ORIGINS', raw, `expected a comma list of origins such as https://app.example.com or http://localhost:8080 (scheme, host, port; no path): ${JSON.stringify(origin)}`)
    }
  }
  return list
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

function listenHost (env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (isIP(raw) === 0 && !HOSTNAME.test(raw)) throw new ConfigError(name, raw, 'expected an IP address or a host name')
  return raw
}

function authConfig (env: Env): Pick<GatewayConfig, 'auth' | 'authKeyCacheMs' | 'authUrlSecret' | 'authUrlTtlSeconds'> {
  const auth = env.AUTH === undefined || env.AUTH === '' ? 'auto' : env.AUTH
  if (auth !== 'required' && auth !== 'off' && auth !== 'auto') throw new ConfigError('AUTH', auth, 'expected required or off (unset: open only on a loopback address)')
  const secret = env.AUTH_URL_SECRET
  if (secret !== undefined && secret !== '' && secret.length < 32) throw new ConfigError('AUTH_URL_SECRET', '(hidden)', 'expected at least 32 characters')
  return {
    auth,
    authKeyCacheMs: int(env, 'AUTH_KEY_CACHE_MS', 5000, 0, 600_000),
    authUrlSecret: secret === undefined || secret === '' ? null : secret,
    authUrlTtlSeconds: int(env, 'AUTH_URL_TTL_SECONDS', 900, 10, 7 * 86400)
  }
}

function accountsConfig (env: Env): Pick<GatewayConfig, 'sessionTtlSeconds' | 'loginMaxAttemptsPerEmail' | 'loginMaxAttemptsPerIp' | 'loginWindowSeconds' | 'passwordScryptLogN' | 'allowRegistration' | 'registerRateLimitPerMinute'> {
  return {
    sessionTtlSeconds: int(env, 'SESSION_TTL_SECONDS', 7 * 86400, 60, 365 * 86400),
    loginMaxAttemptsPerEmail: int(env, 'LOGIN_MAX_ATTEMPTS_PER_EMAIL', 10, 0, 1_000_000),
    loginMaxAttemptsPerIp: int(env, 'LOGIN_MAX_ATTEMPTS_PER_IP', 100, 0, 1_000_000),
    loginWindowSeconds: int(env, 'LOGIN_WINDOW_SECONDS', 900, 1, 86400),
    passwordScryptLogN: int(env, 'PASSWORD_SCRYPT_LOG_N', 15, 14, 20),
    allowRegistration: bool(env, 'ALLOW_REGISTRATION', true),
    registerRateLimitPerMinute: int(env, 'REGISTER_RATE_LIMIT_PER_MINUTE', 10, 0, 1_000_000)
  }
}

/** TRUST_PROXY: unset/false, true (every hop), or a comma list of the proxies' addresses or CIDRs. */
function trustProxy (env: Env): boolean | string[] {
  const raw = env.TRUST_PROXY?.trim() ?? ''
  if (raw === '' || /^(0|false|no|off)$/i.test(raw)) return false
  if (/^(1|true|yes|on)$/i.test(raw)) return true
  const list = raw.split(',').map(s => s.trim()).filter(Boolean)
  for (const entry of list) {
    const [address, bits, ...rest] = entry.split('/')
    const family = isIP(address)
    if (family === 0 || rest.length > 0 || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))) {
      throw new ConfigError('TRUST_PROXY', raw, `expected true, false, or a comma list of IP addresses or CIDRs: ${JSON.stringify(entry)}`)
    }
  }
  return list
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** WEB_ROOT, when set: an existing directory (checked once, at start). */
function webRoot (env: Env): string | null {
  const raw = env.WEB_ROOT
  if (raw === undefined || raw === '') return null
  const dir = resolve(raw)
  let isDirectory = false
  try { isDirectory = statSync(dir).isDirectory() } catch {}
  if (!isDirectory) throw new ConfigError('WEB_ROOT', raw, 'expected an existing directory of static pages')
  return dir
}

/** The original pages' largest submit: five photos (a long video's shots), each as a base64 data: URL. */
const INLINE_FILES = 5

/** Enough for INLINE_FILES files of the largest accepted size sent inline, besides the rest of the body. */
function inlineFilesBodyLimit (bodyLimitBytes: number, uploadMaxBytes: number): number {
  const dataUrl = 64 + Math.ceil(uploadMaxBytes / 3) * 4
  return Math.min(bodyLimitBytes + INLINE_FILES * dataUrl, 1024 * 1024 * 1024)
}

/** Reads and validates the gateway's configuration once; throws naming the first bad variable. */
export function loadConfig (env: Env = process.env): GatewayConfig {
  const databaseUrl = env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs'
  let database: DatabaseLocation
  try { database = parseDatabaseUrl(databaseUrl) } catch (err) { throw new ConfigError('DATABASE_URL', databaseUrl, (err as Error).message) }
  const logLevel = env.LOG_LEVEL ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', logLevel, `expected one of ${LOG_LEVELS.join(', ')}`)
  const bodyLimitBytes = int(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 64 * 1024 * 1024)
  const uploadMaxBytes = int(env, 'UPLOAD_MAX_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024)
  const queueName = env.QUEUE_NAME ?? DEFAULT_QUEUE_NAME
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(queueName)) throw new ConfigError('QUEUE_NAME', queueName, 'expected letters, digits, _ . -')
  return {
    databaseUrl,
    database,
    redisUrl: redisUrl(env),
    host: env.HOST ?? '127.0.0.1',
    port: int(env, 'PORT', 5000, 0, 65535),
    grpcHost: listenHost(env, 'GATEWAY_GRPC_HOST', '127.0.0.1'),
    grpcPort: int(env, 'GATEWAY_GRPC_PORT', 50052, 0, 65535),
    workerAddresses: addresses(env),
    workerLink: workerLink(env),
    workerDiscovery: bool(env, 'WORKER_DISCOVERY', true),
    outputDir: resolve(env.OUTPUT_DIR ?? './data/outputs'),
    statusTtlSeconds: int(env, 'JOB_STATUS_TTL_SECONDS', 86400, 1, 365 * 86400),
    logLevel,
    queueName,
    queuePushTimeoutMs: int(env, 'QUEUE_PUSH_TIMEOUT_MS', 1000, 50, 60000),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 60000),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 16, 1, 1000),
    txMaxWaitMs: int(env, 'TX_MAX_WAIT_MS', 1000, 10, 60000),
    txTimeoutMs: int(env, 'TX_TIMEOUT_MS', 5000, 100, 120000),
    submitOutcomeTimeoutMs: int(env, 'SUBMIT_OUTCOME_TIMEOUT_MS', 3000, 100, 60000),
    submitGroupMax: int(env, 'SUBMIT_GROUP_MAX', 64, 1, 1000),
    submitGroupsInFlight: int(env, 'SUBMIT_GROUPS_IN_FLIGHT', 1, 1, 1000),
    submitGroupMaxWaitMs: int(env, 'SUBMIT_GROUP_MAX_WAIT_MS', 100, 0, 60000),
    migrateOnStart: bool(env, 'MIGRATE_ON_START', true),
    startupTimeoutMs: int(env, 'STARTUP_TIMEOUT_MS', 120_000, 1000, 3600_000),
    progressDbIntervalMs: int(env, 'PROGRESS_DB_INTERVAL_MS', 1000, 0, 600000),
    bodyLimitBytes,
    generateBodyLimitBytes: int(env, 'GENERATE_BODY_LIMIT_BYTES', inlineFilesBodyLimit(bodyLimitBytes, uploadMaxBytes), bodyLimitBytes, 1024 * 1024 * 1024),
    gatewayId: env.GATEWAY_ID ?? `${hostname()}-${process.pid}`,
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 5000, 100, 3600_000),
    sweepGraceMs: int(env, 'SWEEP_GRACE_MS', 30_000, 0, 86400_000),
    sweepPageSize: int(env, 'SWEEP_PAGE_SIZE', 500, 1, 10_000),
    sweepPagesPerPass: int(env, 'SWEEP_PAGES_PER_PASS', 4, 1, 1000),
    maxAttempts: int(env, 'MAX_ATTEMPTS', 3, 1, 100),
    submitRateLimitPerMinute: int(env, 'SUBMIT_RATE_LIMIT_PER_MINUTE', 600, 0, 10_000_000),
    uploadDir: resolve(env.UPLOAD_DIR ?? './data/uploads'),
    webRoot: webRoot(env),
    uploadMaxBytes,
    inputMaxPixels: int(env, 'INPUT_MAX_PIXELS', 40_000_000, 1, 1_000_000_000),
    inputMaxSide: int(env, 'INPUT_MAX_SIDE', 16384, 1, 1_000_000),
    sseKeepAliveMs: int(env, 'SSE_KEEPALIVE_MS', 15000, 50, 600000),
    allowRawGraphs: bool(env, 'ALLOW_RAW_GRAPHS', false),
    rawGraphMaxBytes: int(env, 'RAW_GRAPH_MAX_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    webhooks: loadWebhookConfig(env),
    corsOrigins: origins(env),
    maxQueueDepth: int(env, 'MAX_QUEUE_DEPTH', 10_000, 0, 100_000_000),
    uploadRetentionSeconds: int(env, 'UPLOAD_RETENTION_SECONDS', 7 * 86400, 0, 10 * 365 * 86400),
    uploadRateLimitPerMinute: int(env, 'UPLOAD_RATE_LIMIT_PER_MINUTE', 60, 0, 10_000_000),
    maxLiveJobsPerOwner: int(env, 'MAX_LIVE_JOBS_PER_OWNER', 100, 0, 100_000_000),
    uploadMaxFilesPerOwner: int(env, 'UPLOAD_MAX_FILES_PER_OWNER', 1000, 0, 100_000_000),
    uploadMaxBytesPerOwner: int(env, 'UPLOAD_MAX_BYTES_PER_OWNER', 1024 * 1024 * 1024, 0, Number.MAX_SAFE_INTEGER),
    ...authConfig(env),
    ...accountsConfig(env),
    trustProxy: trustProxy(env)
  }
}
