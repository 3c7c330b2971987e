import { isIP } from 'node:net'
import { DEFAULT_QUEUE_NAME } from '@comfy-jobs/contracts'
import type { WorkerLinkSecurity } from '@comfy-jobs/rpc'

export const ENGINES = ['builtin', 'comfyui'] as const
export type EngineName = (typeof ENGINES)[number]

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface WorkerConfig {
  redisUrl: string
  grpcHost: string
  /** 0 binds an ephemeral port; the bound one is logged with `worker ready`. */
  grpcPort: number
  engine: EngineName
  comfyuiUrl: string
  /** user templates, in addition to the shipped ones; null when unset */
  workflowsDir: string | null
  /** a job running longer than this fails (and is stopped in ComfyUI) */
  jobTimeoutMs: number
  /** how often the comfyui engine polls /history, /queue and /system_stats */
  comfyuiPollMs: number
  /** how long a running job keeps retrying an unreachable ComfyUI before it fails */
  comfyuiGiveUpMs: number
  /** how long a job waits for a gateway to serve its input files */
  inputFetchTimeoutMs: number
  /** input files kept in memory by content hash, so one used by many jobs is fetched once */
  inputCacheBytes: number
  /** the only workflows this worker takes (WORKER_WORKFLOWS); null: every one its engine runs */
  workflows: string[] | null
  builtinSteps: number
  builtinStepMs: number
  concurrency: number
  queueName: string
  workerId: string
  /**
   * host:port gateways reach this worker's gRPC service at, announced in the registry; null: the
   * listen address, or the host name when it listens on every interface (the port once bound)
   */
  advertiseAddress: string | null
  shutdownGraceMs: number
  /** BullMQ lock: a crashed worker's job is handed to another after this long */
  lockDurationMs: number
  /** runs of one job (first run plus reruns after stalls) before BullMQ gives up on it */
  maxAttempts: number
  /**
   * how long a finished job waits for the gateway's ack of its terminal event before it is given back
   * to the queue — when by then no gateway streams this worker's events (one that does is still
   * making the event durable, and is waited for)
   */
  ackTimeoutMs: number
  /** how long the worker takes jobs while no gateway streams its events (at start, or after the stream dropped) */
  unstreamedGraceMs: number
  /** what every call of the worker service must present (WORKER_LINK_TOKEN, WORKER_TLS_*) */
  link: WorkerLinkSecurity
  logLevel: LogLevel
}

export interface ConfigDefaults {
  /** `${hostname}-${pid}`; passed in so this module never reads the process itself. */
  workerId: string
}

export class ConfigError extends Error {
  constructor (variable: string, value: string, expected: string, message?: string) {
    super(message ?? `Invalid ${variable}=${JSON.stringify(value)}: expected ${expected}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Reads and validates the worker's environment once; throws a ConfigError naming the variable. */
export function loadConfig (env: Env, defaults: ConfigDefaults): WorkerConfig {
  const grpcHost = nonEmpty(env, 'WORKER_GRPC_HOST', '127.0.0.1')
  return {
    redisUrl: redisUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    grpcHost,
    grpcPort: integer(env, 'WORKER_GRPC_PORT', 50051, 0, 65535),
    engine: oneOf(env, 'ENGINE', 'builtin', ENGINES),
    comfyuiUrl: httpUrl(env, 'COMFYUI_URL', 'http://127.0.0.1:8188'),
    workflowsDir: raw(env, 'WORKFLOWS_DIR') ?? null,
    jobTimeoutMs: integer(env, 'JOB_TIMEOUT_MS', 600_000, 1000, 86_400_000),
    comfyuiPollMs: integer(env, 'COMFYUI_POLL_MS', 1000, 50, 60_000),
    comfyuiGiveUpMs: integer(env, 'COMFYUI_GIVE_UP_MS', 30_000, 500, 3_600_000),
    inputFetchTimeoutMs: integer(env, 'INPUT_FETCH_TIMEOUT_MS', 60_000, 100, 3_600_000),
    inputCacheBytes: integer(env, 'INPUT_CACHE_BYTES', 256 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024),
    workflows: nameList(env, 'WORKER_WORKFLOWS'),
    builtinSteps: integer(env, 'BUILTIN_STEPS', 8, 1, 1000),
    builtinStepMs: integer(env, 'BUILTIN_STEP_MS', 150, 0, 600_000),
    concurrency: integer(env, 'WORKER_CONCURRENCY', 1, 1, 256),
    queueName: queueName(env, 'QUEUE_NAME', DEFAULT_QUEUE_NAME),
    workerId: nonEmpty(env, 'WORKER_ID', defaults.workerId),
    advertiseAddress: hostPort(env, 'WORKER_ADVERTISE_ADDRESS'),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    lockDurationMs: integer(env, 'LOCK_DURATION_MS', 30_000, 1000, 3_600_000),
    maxAttempts: integer(env, 'MAX_ATTEMPTS', 3, 1, 100),
    ...ackTimeouts(env),
    link: workerLink(env, grpcHost),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS)
  }
}

/** A job is given back only once the worker has stopped taking jobs, or it could take the job right back. */
function ackTimeouts (env: Env): Pick<WorkerConfig, 'ackTimeoutMs' | 'unstreamedGraceMs'> {
  const unstreamedGraceMs = integer(env, 'UNSTREAMED_GRACE_MS', 10_000, 0, 3_600_000)
  const ackTimeoutMs = integer(env, 'ACK_TIMEOUT_MS', 60_000, 1000, 86_400_000)
  if (ackTimeoutMs < unstreamedGraceMs) {
    throw new ConfigError('ACK_TIMEOUT_MS', String(ackTimeoutMs), `at least UNSTREAMED_GRACE_MS (${unstreamedGraceMs})`)
  }
  return { ackTimeoutMs, unstreamedGraceMs }
}

const LINK_TOKEN_MIN_LENGTH = 16

function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}

/**
 * Whoever reaches the worker's port could take its events and ack them, so a worker listening
 * beyond loopback needs a credential, or an explicit WORKER_LINK_INSECURE=true (a network only
 * gateways reach); the token's value never appears in a message.
 */
function workerLink (env: Env, grpcHost: string): WorkerLinkSecurity {
  const token = raw(env, 'WORKER_LINK_TOKEN') ?? null
  if (token !== null && token.length < LINK_TOKEN_MIN_LENGTH) {
    throw new ConfigError('WORKER_LINK_TOKEN', '', '', `Invalid WORKER_LINK_TOKEN: expected at least ${LINK_TOKEN_MIN_LENGTH} characters (e.g. \`openssl rand -hex 32\`)`)
  }
  const files = { cert: raw(env, 'WORKER_TLS_CERT'), key: raw(env, 'WORKER_TLS_KEY'), ca: raw(env, 'WORKER_TLS_CA') }
  const given = Object.entries(files).filter(([, v]) => v !== undefined)
  if (given.length > 0 && given.length < 3) {
    const missing = Object.entries(files).find(([, v]) => v === undefined)![0].toUpperCase()
    throw new ConfigError(`WORKER_TLS_${missing}`, '', '', `Invalid WORKER_TLS_${missing}: WORKER_TLS_CERT, WORKER_TLS_KEY and WORKER_TLS_CA are set together (mutual TLS)`)
  }
  const tls = given.length === 3 ? { cert: files.cert!, key: files.key!, ca: files.ca! } : null
  const insecure = raw(env, 'WORKER_LINK_INSECURE')
  if (insecure !== undefined && !/^(true|false)$/.test(insecure)) throw new ConfigError('WORKER_LINK_INSECURE', insecure, 'true or false')
  if (token === null && tls === null && !isLoopback(grpcHost) && insecure !== 'true') {
    throw new ConfigError('WORKER_LINK_TOKEN', '', '', `WORKER_LINK_TOKEN is not set while WORKER_GRPC_HOST=${grpcHost} is not a loopback address: ` +
      'anyone reaching the port could take and acknowledge this worker\'s events. Set WORKER_LINK_TOKEN (the same value on every gateway, ' +
      'e.g. `openssl rand -hex 32`) or WORKER_TLS_CERT/WORKER_TLS_KEY/WORKER_TLS_CA, or WORKER_LINK_INSECURE=true on a network only gateways reach')
  }
  return { token, tls }
}

/** An unset or empty variable takes its default. */
function raw (env: Env, name: string): string | undefined {
  const value = env[name]
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

function integer (env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name)
  if (value === undefined) return fallback
  const n = /^\d+$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, value, `an integer from ${min} to ${max}`)
  }
  return n
}

function oneOf<T extends string> (env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const value = raw(env, name)
  if (value === undefined) return fallback
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, value, `one of ${allowed.join(', ')}`)
  }
  return value as T
}

function nonEmpty (env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback
}

/** A URL with one of `schemes` (e.g. `redis`) and a host; null when it is not one. */
function parseUrl (value: string, schemes: readonly string[]): URL | null {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  return url !== undefined && schemes.includes(url.protocol.slice(0, -1)) && url.hostname !== '' ? url : null
}

function redisUrl (env: Env, name: string, fallback: string): string {
  const value = raw(env, name)
  if (value === undefined) return fallback
  if (parseUrl(value, ['redis', 'rediss']) === null) throw new ConfigError(name, value, 'a redis:// or rediss:// URL with a host')
  return value
}

/** Paths are appended to it, so a query is refused and trailing slashes are dropped. */
function httpUrl (env: Env, name: string, fallback: string): string {
  const value = raw(env, name)
  if (value === undefined) return fallback
  if (parseUrl(value, ['http', 'https'])?.search !== '') throw new ConfigError(name, value, 'an http:// or https:// URL with a host and no query')
  return value.replace(/\/+$/, '')
}

function nameList (env: Env, name: string): string[] | null {
  const value = raw(env, name)
  if (value === undefined) return null
  const list = value.split(',').map(v => v.trim()).filter(v => v !== '')
  if (list.length === 0 || !list.every(v => /^[A-Za-z0-9_-]{1,64}$/.test(v))) throw new ConfigError(name, value, 'a comma list of workflow names')
  return list
}

function hostPort (env: Env, name: string): string | null {
  const value = raw(env, name)
  if (value === undefined) return null
  const port = /:(\d{1,5})$/.exec(value)
  if (!/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/.test(value) || port === null || Number(port[1]) < 1 || Number(port[1]) > 65535) {
    throw new ConfigError(name, value, 'host:port (the address gateways reach this worker at)')
  }
  return value
}

function queueName (env: Env, name: string, fallback: string): string {
  const value = raw(env, name)
  if (value === undefined) return fallback
  // BullMQ throws on such a name much later, at the first queue call; fail at start-up instead.
  if (value.includes(':')) throw new ConfigError(name, value, 'a queue name without ":"')
  return value
}
