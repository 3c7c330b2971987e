import type { Logger } from 'pino'
import type { WorkerConfig } from './config.ts'
import { Consumer } from './consumer.ts'
import { createEngine } from './engines/engine.ts'
import { EventLog } from './event-log.ts'
import { WorkerGrpcServer } from './grpc-server.ts'
import { OutputStore } from './output-store.ts'

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
  const consumer = new Consumer({
    redisUrl: config.redisUrl,
    queueName: config.queueName,
    concurrency: config.concurrency,
    lockDurationMs: config.lockDurationMs,
    maxAttempts: config.maxAttempts,
    engine,
    events,
    outputs,
    logger
  })
  let stopping = false
  const grpcServer = new WorkerGrpcServer({
    host: config.grpcHost,
    port: config.grpcPort,
    concurrency: config.concurrency,
    events,
    outputs,
    consumer,
    engine,
    isReady: () => consumer.started && !stopping && engine.ready,
    logger
  })
  engine.onReadyChange(ready => {
    if (stopping) return
    grpcServer.setServing(ready)
    void (ready ? consumer.resume() : consumer.pause())
  })

  let starting: Promise<WorkerStartInfo> | null = null
  let stopped: Promise<void> | null = null

  return {
    events,
    start () {
      starting ??= (async () => {
        const port = await grpcServer.listen()
        await engine.start()
        grpcServer.setServing(engine.ready)
        if (!engine.ready) await consumer.pause()
        await consumer.start()
        return { port, workerId: config.workerId, epoch: events.epoch }
      })()
      return starting
    },
    stop (drainTimeoutMs = config.shutdownGraceMs) {
      stopped ??= (async () => {
        stopping = true
        await starting?.catch(() => {})
        const drained = await consumer.close(drainTimeoutMs)
        await engine.stop()
        await grpcServer.close(GRPC_CLOSE_MS)
        logger.info({ drained, unacked: events.pendingCount }, 'worker stopped')
      })()
      return stopped
    }
  }
}
