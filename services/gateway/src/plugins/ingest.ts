import fp from 'fastify-plugin'
import { EventIngestor } from '../ingest/event-ingestor.ts'
import { OutputStore } from '../ingest/output-store.ts'
import { WorkerPool } from '../ingest/worker-pool.ts'
import { WorkerDiscovery } from '../ingest/worker-discovery.ts'
import { EventWriter } from '../ingest/event-writer.ts'
import { JobStore } from '../jobs/job-store.ts'
import { JobEventLog } from '../jobs/job-event-log.ts'
import { JobEventHub } from '../jobs/job-event-hub.ts'

declare module 'fastify' {
  interface FastifyInstance {
    workers: WorkerPool
    outputs: OutputStore
    jobStore: JobStore
    jobEvents: JobEventLog
    jobEventHub: JobEventHub
  }
}

/** Consumes the workers' event streams and makes every event durable (database + Redis). */
export default fp(async (app) => {
  const { outputDir, workerAddresses, gatewayId, progressDbIntervalMs } = app.config
  const outputs = new OutputStore(outputDir)
  await outputs.init()
  const store = new JobStore(app.prisma)
  const events = new JobEventLog(app.redis, app.config.statusTtlSeconds)
  const hub = new JobEventHub(app.redis, app.log.child({ component: 'event-hub' }))
  const ingestor = new EventIngestor({
    store,
    writer: new EventWriter(app.redis, app.config.statusTtlSeconds),
    history: events,
    outputs,
    logger: app.log.child({ component: 'ingest' }),
    metrics: app.metrics,
    progressDbIntervalMs
  })
  const workers = new WorkerPool(workerAddresses, ingestor, app.uploads, gatewayId, app.log, app.config.workerLink)
  app.decorate('outputs', outputs)
  app.decorate('jobStore', store)
  app.decorate('workers', workers)
  app.jobQueue.setRouter(job => workers.route(app.config.queueName, job))
  app.decorate('jobEvents', events)
  app.decorate('jobEventHub', hub)
  const discovery = app.config.workerDiscovery
    ? new WorkerDiscovery(app.redis, app.config.queueName, workers, app.config.redisCommandTimeoutMs, app.log)
    : null
  app.addHook('onReady', async () => {
    hub.start()
    workers.start()
    discovery?.start()
  })
  app.addHook('onClose', async () => {
    await discovery?.stop()
    await workers.stop()
    await hub.stop()
  })
}, { name: 'ingest', dependencies: ['config', 'prisma', 'queue', 'metrics', 'uploads'] })
