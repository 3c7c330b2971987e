import { DEFAULT_QUEUE_NAME } from '@comfy-jobs/contracts'

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
  builtinSteps: number
  builtinStepMs: number
  concurrency: number
  queueName: string
  workerId: string
  shutdownGraceMs: number
  /** BullMQ lock: a crashed worker's job is handed to another after this long */
  lockDurationMs: number
  /** runs of one job (first run plus reruns after stalls) before BullMQ gives up on it */
  maxAttempts: number
  logLevel: LogLevel
}

export interface ConfigDefaults {
  /** `${hostname}-${pid}`; passed in so this module never reads the process itself. */
  workerId: string
}

export class ConfigError extends Error {
  constructor (variable: string, value: string, expected: string) {
    super(`Invalid ${variable}=${JSON.stringify(value)}: expected ${expected}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

/** Reads and validates the worker's environment once; throws a ConfigError naming the variable. */
export function loadConfig (env: Env, defaults: ConfigDefaults): WorkerConfig {
  return {
    redisUrl: redisUrl(env, 'REDIS_URL', 'redis://127.0.0.1:6379'),
    grpcHost: nonEmpty(env, 'WORKER_GRPC_HOST', '127.0.0.1'),
    grpcPort: integer(env, 'WORKER_GRPC_PORT', 50051, 0, 65535),
    engine: oneOf(env, 'ENGINE', 'builtin', ENGINES),
    comfyuiUrl: httpUrl(env, 'COMFYUI_URL', 'http://127.0.0.1:8188'),
    workflowsDir: raw(env, 'WORKFLOWS_DIR') ?? null,
    jobTimeoutMs: integer(env, 'JOB_TIMEOUT_MS', 600_000, 1000, 86_400_000),
    comfyuiPollMs: integer(env, 'COMFYUI_POLL_MS', 1000, 50, 60_000),
    comfyuiGiveUpMs: integer(env, 'COMFYUI_GIVE_UP_MS', 30_000, 500, 3_600_000),
    builtinSteps: integer(env, 'BUILTIN_STEPS', 8, 1, 1000),
    builtinStepMs: integer(env, 'BUILTIN_STEP_MS', 150, 0, 600_000),
    concurrency: integer(env, 'WORKER_CONCURRENCY', 1, 1, 256),
    queueName: queueName(env, 'QUEUE_NAME', DEFAULT_QUEUE_NAME),
    workerId: nonEmpty(env, 'WORKER_ID', defaults.workerId),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    lockDurationMs: integer(env, 'LOCK_DURATION_MS', 30_000, 1000, 3_600_000),
    maxAttempts: integer(env, 'MAX_ATTEMPTS', 3, 1, 100),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS)
  }
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

function queueName (env: Env, name: string, fallback: string): string {
  const value = raw(env, name)
  if (value === undefined) return fallback
  // BullMQ throws on such a name much later, at the first queue call; fail at start-up instead.
  if (value.includes(':')) throw new ConfigError(name, value, 'a queue name without ":"')
  return value
}
