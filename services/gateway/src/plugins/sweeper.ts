import fp from 'fastify-plugin'
import { sweeperLeaseKey } from '@comfy-jobs/contracts'
import { RedisLease } from '../sweeper/lease.ts'
import { Sweeper } from '../sweeper/sweeper.ts'
import { CommitOutcome } from '../jobs/commit-outcome.ts'

declare module 'fastify' {
  interface FastifyInstance {
    sweeper: Sweeper
  }
}

/** Repairs what a crash or a Redis restart left inconsistent; one gateway at a time holds the lease. */
export default fp(async (app) => {
  const { queueName, sweepIntervalMs, sweepGraceMs, maxAttempts, sweepPageSize, sweepPagesPerPass } = app.config
  const sweeper = new Sweeper({
    store: app.jobStore,
    queue: app.jobQueue,
    cache: app.statusCache,
    events: app.jobEvents,
    lease: new RedisLease(app.redis, sweeperLeaseKey(queueName), sweepIntervalMs * 3),
    outcome: new CommitOutcome(app.prisma),
    logger: app.log.child({ component: 'sweeper' }),
    intervalMs: sweepIntervalMs,
    graceMs: sweepGraceMs,
    maxAttempts,
    pageSize: sweepPageSize,
    pagesPerPass: sweepPagesPerPass,
    phantomBatch: 500,
    metrics: app.metrics
  })
  app.decorate('sweeper', sweeper)
  app.metrics.observeSweep({ cycleSeconds: () => sweeper.cycleSeconds(), behindSeconds: () => sweeper.behindSeconds() })
  app.addHook('onReady', async () => { sweeper.start() })
  app.addHook('onClose', async () => { await sweeper.stop() })
}, { name: 'sweeper', dependencies: ['queue', 'ingest', 'metrics'] })
