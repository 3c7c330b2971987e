import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { unstreamedWorkersKey } from '@comfy-jobs/contracts'
import { freePort } from './ports.ts'
import { ServiceProcess } from './service-process.ts'
import { createTestDatabase, type TestDatabase } from './database.ts'

function tcpAccepts (port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

async function probeUntilReady (service: ServiceProcess, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void service.exited.then(() => { exited = true })
  while (!await probe()) {
    if (exited) throw new Error(`${service.name} exited before it was ready; last lines:\n${service.raw.slice(-15).join('\n')}`)
    if (Date.now() > deadline) throw new Error(`${service.name} not ready within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * How long a service may take to start. A quiet machine needs 2-3 s; with two suites on 2 cores
 * (load average 15-20) a start has been seen to take 25 s, so this is a bound, not an expectation.
 */
const READY_TIMEOUT_MS = 120_000

export const SHARED_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface Teardown { teardown: (fn: () => unknown) => void }

export interface SystemOptions {
  name: string
  redisUrl?: string
  workers?: number
  gateway?: boolean
  workerEnv?: Record<string, string>
  gatewayEnv?: Record<string, string>
  /** extra Node.js flags for the gateway process (e.g. --cpu-prof) */
  gatewayNodeArgs?: string[]
  /**
   * Services log at this level (default info). Above info the ready lines are not written, so
   * readiness is probed instead: the worker's gRPC port accepts, the gateway answers /api/health.
   */
  logLevel?: string
  /** run the compiled services (dist/, built beforehand) instead of the sources through tsx */
  compiled?: boolean
}

/**
 * The whole system for one test file: its own database, queue name and output folder, a gateway and
 * N workers as real processes on free ports, against real MariaDB and Redis.
 */
export class TestSystem {
  readonly name: string
  readonly queueName: string
  readonly redisUrl: string
  db!: TestDatabase
  outputDir!: string
  workerPorts: number[] = []
  workers: ServiceProcess[] = []
  gateway: ServiceProcess | null = null
  gatewayPort = 0
  /** every gateway gets its own gRPC port, so parallel test files never meet on the default one */
  gatewayGrpcPort = 0
  #extraGatewayEnv: Record<string, string>
  #workerEnv: Record<string, string>
  readonly #gatewayNodeArgs: string[]
  readonly #compiled: boolean
  #logLevel: string

  constructor (opts: SystemOptions) {
    this.name = opts.name
    this.queueName = `t-${opts.name}-${randomUUID().slice(0, 8)}`
    this.redisUrl = opts.redisUrl ?? SHARED_REDIS_URL
    this.#extraGatewayEnv = opts.gatewayEnv ?? {}
    this.#gatewayNodeArgs = opts.gatewayNodeArgs ?? []
    this.#workerEnv = opts.workerEnv ?? {}
    this.#logLevel = opts.logLevel ?? 'info'
    this.#compiled = opts.compiled ?? false
  }

  static async start (t: Teardown, opts: SystemOptions): Promise<TestSystem> {
    const sys = new TestSystem(opts)
    t.teardown(() => sys.stop())
    try {
      sys.db = await createTestDatabase(opts.name)
      sys.outputDir = await mkdtemp(join(tmpdir(), `cj-${opts.name}-`))
      const workers = opts.workers ?? 1
      for (let i = 0; i < workers; i++) sys.workerPorts.push(await freePort())
      await Promise.all(sys.workerPorts.map((_p, i) => sys.startWorker(i)))
      if (opts.gateway !== false) await sys.startGateway()
    } catch (err) {
      // a file that starts its system at top level ends here without running its teardowns: stop
      // what did start, or its processes outlive the test and hold their database connections
      await sys.stop()
      throw err
    }
    return sys
  }

  get baseUrl (): string {
    return `http://127.0.0.1:${this.gatewayPort}`
  }

  get grpcAddress (): string {
    return `127.0.0.1:${this.gatewayGrpcPort}`
  }

  async startWorker (i: number, env: Record<string, string> = {}): Promise<ServiceProcess> {
    const worker = new ServiceProcess('worker', {
      REDIS_URL: this.redisUrl,
      QUEUE_NAME: this.queueName,
      WORKER_GRPC_PORT: String(this.workerPorts[i]),
      WORKER_ID: `${this.name}-w${i}`,
      BUILTIN_STEPS: '4',
      BUILTIN_STEP_MS: '30',
      LOG_LEVEL: this.#logLevel,
      ...this.#workerEnv,
      ...env
    }, [], this.#compiled)
    this.workers[i] = worker
    if (this.#logsReady) await worker.waitForLog(l => l.msg === 'worker ready', READY_TIMEOUT_MS)
    else await probeUntilReady(worker, () => tcpAccepts(this.workerPorts[i]), READY_TIMEOUT_MS)
    return worker
  }

  gatewayEnv (env: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: this.db.url,
      REDIS_URL: this.redisUrl,
      QUEUE_NAME: this.queueName,
      PORT: String(this.gatewayPort),
      GATEWAY_GRPC_PORT: String(this.gatewayGrpcPort),
      WORKER_ADDRESSES: this.workerPorts.map(p => `127.0.0.1:${p}`).join(',') || '127.0.0.1:1',
      OUTPUT_DIR: this.outputDir,
      PROGRESS_DB_INTERVAL_MS: '0',
      // a test needs few connections, and the machine's MariaDB (max_connections 151) is shared by
      // every suite running on it: 16 per gateway ran it out with two suites at once
      DB_POOL_SIZE: '4',
      LOG_LEVEL: this.#logLevel,
      ...this.#extraGatewayEnv,
      ...env
    }
  }

  async startGateway (env: Record<string, string> = {}): Promise<ServiceProcess> {
    for (let attempt = 1; ; attempt++) {
      if (!this.gatewayPort) this.gatewayPort = await freePort()
      if (!this.gatewayGrpcPort) this.gatewayGrpcPort = await freePort()
      if (attempt === 1 && this.#pickedPorts === null) this.#pickedPorts = `${this.gatewayPort}/${this.gatewayGrpcPort}`
      const gateway = new ServiceProcess('gateway', this.gatewayEnv(env), this.#gatewayNodeArgs, this.#compiled)
      this.gateway = gateway
      try {
        if (this.#logsReady) await gateway.waitForLog(l => l.msg === 'gateway ready', READY_TIMEOUT_MS)
        else await probeUntilReady(gateway, () => fetch(`${this.baseUrl}/api/health`).then(() => true, () => false), READY_TIMEOUT_MS)
        return gateway
      } catch (err) {
        if (!this.#lostItsPorts(gateway) || attempt === 3) throw err
        this.gatewayPort = this.gatewayGrpcPort = 0
        this.#pickedPorts = null
      }
    }
  }

  /** ports this helper picked (a test may set its own, e.g. one it holds to prove the clash) */
  #pickedPorts: string | null = null

  /**
   * A free port is only free until someone binds it: on a busy machine another test's connection can
   * take the port of a gateway that was killed and is being restarted. Ports the helper picked are
   * picked again; ports the test chose are its business.
   */
  #lostItsPorts (gateway: ServiceProcess): boolean {
    return this.#pickedPorts === `${this.gatewayPort}/${this.gatewayGrpcPort}` &&
      gateway.child.exitCode !== null && gateway.raw.some(l => l.includes('EADDRINUSE'))
  }

  get #logsReady (): boolean {
    return ['info', 'debug', 'trace'].includes(this.#logLevel)
  }

  /** Resolves when every configured worker's event stream is open on the gateway. */
  async waitForWorkersConnected (timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const health = await fetch(`${this.baseUrl}/api/health`).then(r => r.json()) as any
      if (health.workers.connected === this.workerPorts.length) return
      if (Date.now() > deadline) throw new Error(`workers not connected: ${JSON.stringify(health)}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  async submit (body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number, body: any, ms: number }> {
    const t0 = performance.now()
    const res = await fetch(`${this.baseUrl}/api/generate`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body)
    })
    const json = await res.json()
    return { status: res.status, body: json, ms: performance.now() - t0 }
  }

  async status (jobId: string): Promise<{ status: number, body: any }> {
    const res = await fetch(`${this.baseUrl}/api/status/${jobId}`)
    return { status: res.status, body: await res.json() }
  }

  /** Polls status until pred holds; returns the last status body. */
  async waitForStatus (jobId: string, pred: (s: any) => boolean, timeoutMs = 60_000): Promise<any> {
    const deadline = Date.now() + timeoutMs
    let last: any
    for (;;) {
      last = (await this.status(jobId)).body
      if (pred(last)) return last
      if (Date.now() > deadline) throw new Error(`status of ${jobId} never matched; last: ${JSON.stringify(last)}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  async row (jobId: string): Promise<any | null> {
    const [rows] = await this.db.pool.query('SELECT * FROM jobs WHERE id = ?', [jobId]) as any
    return rows[0] ?? null
  }

  async queueCounts (): Promise<Record<string, number>> {
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 1 })
    const queue = new Queue(this.queueName, { connection: redis })
    try {
      return await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')
    } finally {
      await queue.close()
      redis.disconnect()
    }
  }

  async stop (): Promise<void> {
    await Promise.all([this.gateway?.kill('SIGKILL'), ...this.workers.map(w => w?.kill('SIGKILL'))])
    const redis = new Redis(this.redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => null })
    redis.on('error', () => {})
    try {
      const queue = new Queue(this.queueName, { connection: redis })
      await queue.obliterate({ force: true }).catch(() => {})
      await queue.close().catch(() => {})
      const [rows] = await this.db?.pool.query('SELECT id FROM jobs').catch(() => [[]]) as any
      const keys = (rows ?? []).flatMap((r: { id: string }) => [`job:status:${r.id}`, `job:events:${r.id}`])
      keys.push(unstreamedWorkersKey(this.queueName))
      await redis.del(...keys).catch(() => {})
    } finally {
      redis.disconnect()
    }
    await this.db?.drop().catch(() => {})
    // maxRetries: a file being closed as the processes die can make one pass see ENOTEMPTY
    if (this.outputDir) await rm(this.outputDir, { recursive: true, force: true, maxRetries: 5 })
  }
}
