import type { Logger } from 'pino'
import type { WorkerConfig } from './config.ts'
import { Consumer } from './consumer.ts'
import { createEngine } from './engines/engine.ts'
import { EventLog } from './event-log.ts'
import { WorkerGrpcServer } from './grpc-server.ts'
import { OutputStore } from './output-store.ts'
import { InputFetcher } from './inputs/input-fetcher.ts'
import { Intake } from './intake.ts'
import { UnstreamedPresence } from './unstreamed-presence.ts'
import { RegistryAnnouncer } from './registry-announcer.ts'
import { CapabilityQueues, engineRuns } from './capability-queues.ts'
import { hostname } from 'node:os'

export interface WorkerStartInfo {
  port: number
  workerId: string
  epoch: string
}

export interface WorkerApp {
  readonly events: EventLog
  /** Serves gRPC, then takes jobs. Idempotent. */
  start: () => Promise<WorkerStartInfo>
  /**
   * Stops taking jobs, keeps serving gRPC while running jobs end and their terminal events are acked
   * (at most drainTimeoutMs), then shuts down. Idempotent.
   */
  stop: (drainTimeoutMs?: number) => Promise<void>
}

/** How long gRPC calls (other than the event streams, which are ended) get to finish at shutdown. */
const GRPC_CLOSE_MS = 1000

export function createWorker (config: WorkerConfig, logger: Logger): WorkerApp {
  const engine = createEngine(config, logger)
  const events = new EventLog(config.workerId)
  const outputs = new OutputStore()
  const inputs = new InputFetcher({ timeoutMs: config.inputFetchTimeoutMs, cacheBytes: config.inputCacheBytes, logger })
  const presence = new UnstreamedPresence(config.redisUrl, config.queueName, config.workerId, logger)
  // consumer, gRPC server and intake refer to one another only in callbacks, called once all three exist
  const consumer = new Consumer({
    redisUrl: config.redisUrl,
    queueName: config.queueName,
    concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs,
    maxAttempts: config.maxAttempts,
    ackTimeoutMs: config.ackTimeoutMs,
    unstreamed: (): boolean => intake.state.unstreamed,
    canRun: job => engineRuns(engine, job),
    engine,
    events,
    outputs,
    inputs,
    logger
  })
  const server = new WorkerGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    concurrency: config.concurrency,
    events,
    outputs,
    inputs,
    consumer,
    engine,
    readiness: () => {
      const { ready, reason } = intake.state
      return { ready: ready && consumer.started, reason: consumer.started ? reason : 'starting' }
    },
    link: config.link,
    logger
  })
  const intake: Intake = new Intake({
    pause: () => consumer.pause(),
    resume: () => consumer.resume(),
    onChange: state => {
      server.setServing(state.ready)
      presence.set(state.unstreamed)
    },
    graceMs: config.unstreamedGraceMs,
    logger
  })
  const capabilities = new CapabilityQueues(config.redisUrl, config.queueName, engine, name => consumer.addQueue(name), logger)
  let address = ''
  const announcer = new RegistryAnnouncer(config.redisUrl, config.queueName, config.workerId, () => ({
    worker_id: config.workerId,
    address,
    engine: engine.name,
    runnable: engine.runnable().map(r => ({ workflow: r.workflow, models: r.models })),
    epoch: events.epoch
  }), logger)
  engine.onReadyChange(ready => { void intake.engineReady(ready) })
  events.onSubscriberChange(attached => { void intake.streamed(attached) })

  let starting: Promise<WorkerStartInfo> | null = null
  let stopped: Promise<void> | null = null

  return {
    events,
    start () {
      starting ??= (async () => {
        const port = await server.listen()
        address = config.advertiseAddress ?? advertisedAddress(config.grpcHost, port)
        await engine.start()
        await intake.start(engine.ready)
        await consumer.start()
        await capabilities.start()
        await announcer.start()
        return { port, workerId: config.workerId, epoch: events.epoch }
      })()
      return starting
    },
    stop (drainTimeoutMs = config.shutdownGraceMs) {
      stopped ??= (async () => {
        await intake.stop()
        await starting?.catch(() => {})
        await capabilities.stop()
        const drained = await consumer.close(drainTimeoutMs)
        await engine.stop()
        // only now: gateways must go on streaming (and acking) while the running jobs drained
        await announcer.stop()
        await presence.stop()
        await server.close(GRPC_CLOSE_MS)
        logger.info({ drained, unacked: events.pendingCount }, 'worker stopped')
      })()
      return stopped
    }
  }
}

/** The listen address, or this host's name when the worker listens on every interface. */
function advertisedAddress (host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? hostname() : host
  return reachable.includes(':') ? `[${reachable}]:${port}` : `${reachable}:${port}`
}
