import { resolve } from 'node:path'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { parseDatabaseUrl, type DatabaseLocation } from '@comfy-jobs/db'
import { DEFAULT_QUEUE_NAME } from '@comfy-jobs/contracts'

export interface GatewayConfig {
  databaseUrl: string
  database: DatabaseLocation
  redisUrl: string
  host: string
  port: number
  grpcHost: string
  grpcPort: number
  workerAddresses: string[]
  outputDir: string
  statusTtlSeconds: number
  logLevel: string
  queueName: string
  queuePushTimeoutMs: number
  redisCommandTimeoutMs: number
  dbPoolSize: number
  txMaxWaitMs: number
  txTimeoutMs: number
  migrateOnStart: boolean
  progressDbIntervalMs: number
  bodyLimitBytes: number
  gatewayId: string
  sweepIntervalMs: number
  sweepGraceMs: number
  maxAttempts: number
  submitRateLimitPerMinute: number
  uploadDir: string
  uploadMaxBytes: number
  sseKeepAliveMs: number
}

type Env = Record<string, string | undefined>

class ConfigError extends Error {
  constructor (variable: string, value: string, expected: string) {
    super(`invalid configuration: ${variable}=${JSON.stringify(value)}: ${expected}`)
    this.name = 'ConfigError'
  }
}

function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, raw, `expected an integer in ${min}..${max}`)
  return n
}

function bool (env: Env, name: string, fallback: boolean): boolean {
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

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

function listenHost (env: Env, name: string, fallback: string): string {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (isIP(raw) === 0 && !HOSTNAME.test(raw)) throw new ConfigError(name, raw, 'expected an IP address or a host name')
  return raw
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/** Reads and validates the gateway's configuration once; throws naming the first bad variable. */
export function loadConfig (env: Env = process.env): GatewayConfig {
  const databaseUrl = env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs'
  let database: DatabaseLocation
  try { database = parseDatabaseUrl(databaseUrl) } catch (err) { throw new ConfigError('DATABASE_URL', databaseUrl, (err as Error).message) }
  const logLevel = env.LOG_LEVEL ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', logLevel, `expected one of ${LOG_LEVELS.join(', ')}`)
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
    outputDir: resolve(env.OUTPUT_DIR ?? './data/outputs'),
    statusTtlSeconds: int(env, 'JOB_STATUS_TTL_SECONDS', 86400, 1, 365 * 86400),
    logLevel,
    queueName,
    queuePushTimeoutMs: int(env, 'QUEUE_PUSH_TIMEOUT_MS', 1000, 50, 60000),
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 60000),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 16, 1, 1000),
    txMaxWaitMs: int(env, 'TX_MAX_WAIT_MS', 1000, 10, 60000),
    txTimeoutMs: int(env, 'TX_TIMEOUT_MS', 5000, 100, 120000),
    migrateOnStart: bool(env, 'MIGRATE_ON_START', true),
    progressDbIntervalMs: int(env, 'PROGRESS_DB_INTERVAL_MS', 1000, 0, 600000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 64 * 1024, 1024, 64 * 1024 * 1024),
    gatewayId: env.GATEWAY_ID ?? `${hostname()}-${process.pid}`,
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 5000, 100, 3600_000),
    sweepGraceMs: int(env, 'SWEEP_GRACE_MS', 30_000, 0, 86400_000),
    maxAttempts: int(env, 'MAX_ATTEMPTS', 3, 1, 100),
    submitRateLimitPerMinute: int(env, 'SUBMIT_RATE_LIMIT_PER_MINUTE', 600, 0, 10_000_000),
    uploadDir: resolve(env.UPLOAD_DIR ?? './data/uploads'),
    uploadMaxBytes: int(env, 'UPLOAD_MAX_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    sseKeepAliveMs: int(env, 'SSE_KEEPALIVE_MS', 15000, 50, 600000)
  }
}
