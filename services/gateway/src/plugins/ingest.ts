import fp from 'fastify-plugin'
import { EventIngestor } from '../ingest/event-ingestor.ts'
import { OutputStore } from '../ingest/output-store.ts'
import { WorkerPool } from '../ingest/worker-pool.ts'
import { JobStore } from '../jobs/job-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    workers: WorkerPool
    outputs: OutputStore
    jobStore: JobStore
  }
}

/** Consumes the workers' event streams and makes every event durable (database + Redis). */
export default fp(async (app) => {
  const { outputDir, workerAddresses, gatewayId, progressDbIntervalMs } = app.config
  const outputs = new OutputStore(outputDir)
  await outputs.init()
  const store = new JobStore(app.prisma)
  const ingestor = new EventIngestor({
    store,
    cache: app.statusCache,
    outputs,
    logger: app.log.child({ component: 'ingest' }),
    progressDbIntervalMs
  })
  const workers = new WorkerPool(workerAddresses, ingestor, gatewayId, app.log)
  app.decorate('outputs', outputs)
  app.decorate('jobStore', store)
  app.decorate('workers', workers)
  app.addHook('onReady', async () => { workers.start() })
  app.addHook('onClose', async () => { await workers.stop() })
}, { name: 'ingest', dependencies: ['config', 'prisma', 'queue'] })
