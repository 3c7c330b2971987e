import fp from 'fastify-plugin'
import { JobService } from '../jobs/job-service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobService
  }
}

export default fp(async (app) => {
  const { txMaxWaitMs, txTimeoutMs, redisCommandTimeoutMs } = app.config
  app.decorate('jobs', new JobService({
    prisma: app.prisma,
    store: app.jobStore,
    queue: app.jobQueue,
    cache: app.statusCache,
    events: app.jobEvents,
    workers: app.workers,
    runnable: () => app.workers.runnable(),
    logger: app.log.child({ component: 'jobs' }),
    txMaxWaitMs,
    txTimeoutMs,
    redisReadTimeoutMs: redisCommandTimeoutMs
  }))
}, { name: 'jobs', dependencies: ['prisma', 'queue', 'ingest'] })
