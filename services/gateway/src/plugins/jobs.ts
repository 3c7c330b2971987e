import fp from 'fastify-plugin'
import { JobService } from '../jobs/job-service.ts'
import { withDeadline } from '../deadline.ts'

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
    databaseReachable: () => withDeadline(app.mysql.query('SELECT 1'), 500, 'database probe').then(() => true, () => false),
    logger: app.log.child({ component: 'jobs' }),
    metrics: app.metrics,
    txMaxWaitMs,
    txTimeoutMs,
    redisReadTimeoutMs: redisCommandTimeoutMs
  }))
}, { name: 'jobs', dependencies: ['prisma', 'queue', 'ingest', 'metrics'] })
