import { randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ServiceProcess } from '../helpers/service-process.ts'
import { PrivateRedis } from '../helpers/private-redis.ts'
import { TcpProxy } from '../helpers/tcp-proxy.ts'
import { freePort } from '../helpers/ports.ts'
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts'

export interface ChaosShape {
  gateways: number
  workers: number
  /** names the database, the queue and the processes (default 'chaos') */
  name?: string
  /** the gateways find the workers in the registry alone (no WORKER_ADDRESSES); workers may then be added */
  registry?: boolean
  /** worker i's own environment, e.g. its WORKER_WORKFLOWS */
  workerEnv?: (i: number) => Record<string, string>
  /** every gateway's own environment on top of the run's */
  gatewayEnv?: Record<string, string>
}

const START_TIMEOUT_MS = 180_000

/**
 * A system of its own for the chaos and scale runs: a private Redis (no persistence: a restart loses
 * everything), a database of its own reached through a TCP proxy that can be cut, N gateways and M
 * workers as processes on fixed ports (a killed one comes back on the same port), one upload folder
 * for every gateway (as a shared volume). Every process that ever ran is kept, with its logs, for
 * the report.
 */
export class ChaosSystem {
  readonly redis = new PrivateRedis()
  readonly name: string
  readonly queueName: string
  db!: TestDatabase
  dbProxy!: TcpProxy
  #dataDir = ''
  outputDir = ''
  uploadDir = ''
  readonly gateways: Array<ServiceProcess | null> = []
  readonly workers: Array<ServiceProcess | null> = []
  /** every process started, killed ones included */
  readonly history: ServiceProcess[] = []
  #gatewayPorts: number[] = []
  #grpcPorts: number[] = []
  #workerPorts: number[] = []

  constructor (readonly shape: ChaosShape) {
    this.name = shape.name ?? 'chaos'
    this.queueName = `${this.name}-${randomUUID().slice(0, 8)}`
  }

  async start (): Promise<void> {
    await this.redis.start()
    this.db = await createTestDatabase(this.name)
    this.dbProxy = new TcpProxy(this.db.loc.port)
    await this.dbProxy.start()
    this.#dataDir = await mkdtemp(join(tmpdir(), `cj-${this.name}-`))
    this.outputDir = join(this.#dataDir, 'outputs')
    this.uploadDir = join(this.#dataDir, 'uploads')
    await Promise.all([mkdir(this.outputDir), mkdir(this.uploadDir)])
    for (let i = 0; i < this.shape.workers; i++) this.#workerPorts.push(await freePort())
    for (let i = 0; i < this.shape.gateways; i++) {
      this.#gatewayPorts.push(await freePort())
      this.#grpcPorts.push(await freePort())
    }
    await Promise.all(this.#workerPorts.map((_p, i) => this.startWorker(i)))
    for (let i = 0; i < this.shape.gateways; i++) await this.startGateway(i)
  }

  baseUrl (i: number): string {
    return `http://127.0.0.1:${this.#gatewayPorts[i]}`
  }

  /** The gateways running now. */
  liveGateways (): number[] {
    return this.gateways.flatMap((g, i) => g !== null ? [i] : [])
  }

  workerId (i: number): string {
    return `${this.name}-w${i}`
  }

  async startWorker (i: number): Promise<void> {
    this.workers[i] = await this.#launch('worker', {
      REDIS_URL: this.redis.url,
      QUEUE_NAME: this.queueName,
      WORKER_GRPC_PORT: String(this.#workerPorts[i]),
      WORKER_ID: this.workerId(i),
      BUILTIN_STEPS: '4',
      BUILTIN_STEP_MS: '10',
      WORKER_CONCURRENCY: '2',
      LOCK_DURATION_MS: '3000',
      ...this.shape.workerEnv?.(i)
    })
  }

  /** A worker more, on a port of its own: only the registry tells the gateways of it. Resolves with its index. */
  async addWorker (): Promise<number> {
    if (this.shape.registry !== true) throw new Error('a worker can be added only where the gateways use the registry')
    const i = this.#workerPorts.length
    this.#workerPorts.push(await freePort())
    await this.startWorker(i)
    return i
  }

  async startGateway (i: number): Promise<void> {
    const url = new URL(this.db.url)
    url.port = String(this.dbProxy.port)
    this.gateways[i] = await this.#launch('gateway', {
      DATABASE_URL: url.toString(),
      REDIS_URL: this.redis.url,
      QUEUE_NAME: this.queueName,
      PORT: String(this.#gatewayPorts[i]),
      GATEWAY_GRPC_PORT: String(this.#grpcPorts[i]),
      GATEWAY_ID: `${this.name}-g${i}`,
      WORKER_ADDRESSES: this.shape.registry === true ? '' : this.#workerPorts.map(p => `127.0.0.1:${p}`).join(','),
      OUTPUT_DIR: this.outputDir,
      UPLOAD_DIR: this.uploadDir,
      SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
      SWEEP_INTERVAL_MS: '1000',
      SWEEP_GRACE_MS: '10000',
      PROGRESS_DB_INTERVAL_MS: '1000',
      ...this.shape.gatewayEnv
    })
  }

  /** Starts a service, keeps it in the history, resolves once it says it is ready. */
  async #launch (name: 'gateway' | 'worker', env: Record<string, string>): Promise<ServiceProcess> {
    const service = new ServiceProcess(name, env)
    this.history.push(service)
    await service.waitForLog(l => l.msg === `${name} ready`, START_TIMEOUT_MS)
    return service
  }

  /** SIGKILL: a crash; SIGTERM: the worker is taken away and shuts down as it is told to. */
  async killWorker (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const worker = this.workers[i]
    this.workers[i] = null
    await worker?.kill(signal)
  }

  async killGateway (i: number): Promise<void> {
    const gateway = this.gateways[i]
    this.gateways[i] = null
    await gateway?.kill('SIGKILL')
  }

  /** Redis killed and started again empty: the queue, the status hashes and the event histories are gone. */
  async restartRedis (): Promise<void> {
    await this.redis.stop()
    await this.redis.start()
  }

  /** Every process's log lines, one file each, in start order. */
  async saveLogs (dir: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    await Promise.all(this.history.map((p, i) => writeFile(join(dir, `${String(i).padStart(3, '0')}-${p.name}.log`), p.raw.join('\n') + '\n')))
  }

  async stop (): Promise<void> {
    await Promise.all([...this.gateways, ...this.workers].map(p => p?.kill('SIGKILL')))
    await this.dbProxy?.stop()
    await this.redis.stop()
    await this.db?.drop().catch(() => {})
    if (this.#dataDir) await rm(this.#dataDir, { recursive: true, force: true, maxRetries: 5 })
  }
}
