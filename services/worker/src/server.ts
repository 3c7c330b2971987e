import { hostname } from 'node:os'
import closeWithGrace from 'close-with-grace'
import { pino } from 'pino'
import { loadConfig, type WorkerConfig } from './config.ts'
import { createWorker, type WorkerApp } from './worker.ts'

/** Part of the grace kept for closing gRPC and Redis after the running jobs had their chance. */
const CLOSE_RESERVE_MS = 1500

let config: WorkerConfig
try {
  config = loadConfig(process.env, { workerId: `${hostname()}-${process.pid}` })
} catch (err) {
  process.stderr.write(`worker: configuration error: ${(err as Error).message}\n`)
  process.exit(1)
}

const logger = pino({ level: config.logLevel, base: { service: 'worker', worker_id: config.workerId, pid: process.pid } })

let app: WorkerApp
try {
  app = createWorker(config, logger)
} catch (err) {
  logger.fatal({ err }, 'worker cannot start')
  process.stderr.write(`worker: ${(err as Error).message}\n`)
  process.exit(1)
}

closeWithGrace({
  delay: config.shutdownGraceMs,
  logger: { error: (msg: unknown) => logger.error(msg instanceof Error ? { err: msg } : { msg: String(msg) }, 'shutdown') }
}, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'fatal error; shutting down')
  else logger.info({ signal, grace_ms: config.shutdownGraceMs }, 'shutting down: no new jobs, letting running ones finish')
  await app.stop(Math.max(0, config.shutdownGraceMs - CLOSE_RESERVE_MS))
})

try {
  const { port, epoch } = await app.start()
  logger.info({ port, epoch, engine: config.engine, queue: config.queueName, concurrency: config.concurrency }, 'worker ready')
} catch (err) {
  logger.fatal({ err }, 'worker failed to start')
  process.stderr.write(`worker: ${(err as Error).message}\n`)
  await app.stop(0).catch(() => {})
  process.exit(1)
}
