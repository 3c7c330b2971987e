import fp from 'fastify-plugin'
import { JobService } from '../jobs/job-service.ts'
import { StatusRows } from '../jobs/status-rows.ts'
import { JobCreator } from '../jobs/job-creator.ts'
import { CommitOutcome } from '../jobs/commit-outcome.ts'
import { DatabaseHealth } from '../jobs/database-health.ts'
import { RawGraphs } from '../graphs/raw-graphs.ts'
import { InputResolver } from '../inputs/input-resolver.ts'
import type { WatchDeps } from '../jobs/job-watch.ts'
import { checkWebhook } from '../webhooks/webhook-request.ts'
import { QueueAdmission } from '../jobs/queue-admission.ts'
import { LiveJobLimit } from '../limits/live-jobs.ts'

/** A probe that waits longer than this on a busy machine is no evidence that the database is away. */
const PROBE_TIMEOUT_MS = 2000

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobService
    /** what watchJob() reads, for every transport that streams a job's events */
    jobWatch: WatchDeps
    queueAdmission: QueueAdmission
  }
}

export default fp(async (app) => {
  const { txMaxWaitMs, txTimeoutMs, redisCommandTimeoutMs, queuePushTimeoutMs, submitOutcomeTimeoutMs } = app.config
  const logger = app.log.child({ component: 'jobs' })
  const outcome = new CommitOutcome(app.prisma)
  const creator = new JobCreator({
    prisma: app.prisma,
    pool: app.databasePool,
    store: app.jobStore,
    queue: app.jobQueue,
    cache: app.statusCache,
    health: new DatabaseHealth({ observer: app.databasePool, probe: () => app.mysql.query('SELECT 1'), probeTimeoutMs: PROBE_TIMEOUT_MS }),
    outcome,
    logger,
    txMaxWaitMs,
    txTimeoutMs,
    queuePushTimeoutMs,
    outcomeTimeoutMs: submitOutcomeTimeoutMs,
    groups: { maxSize: app.config.submitGroupMax, inFlight: app.config.submitGroupsInFlight, maxWaitMs: app.config.submitGroupMaxWaitMs },
    onGroup: size => app.metrics.submitGroup(size)
  })
  const admission = new QueueAdmission({ depth: () => app.jobQueue.depth(), maxDepth: app.config.maxQueueDepth, logger })
  app.decorate('queueAdmission', admission)
  app.metrics.observeSubmitWaiting(() => creator.waiting)
  // while auth is off every job is `local`'s: MAX_QUEUE_DEPTH is the bound then, not this
  const liveJobs = new LiveJobLimit({ count: owner => app.jobStore.liveCount(owner), max: app.auth.required ? app.config.maxLiveJobsPerOwner : 0, logger })
  app.decorate('jobs', new JobService({
    admission,
    liveJobs,
    prisma: app.prisma,
    statusRows: new StatusRows(app.mysql),
    creator,
    outcome,
    store: app.jobStore,
    queue: app.jobQueue,
    cache: app.statusCache,
    events: app.jobEvents,
    workers: app.workers,
    runnable: () => app.workers.runnable(),
    waitingReason: (workflow, model) => app.workers.waitingReason(workflow, model),
    rawGraphs: new RawGraphs({ allow: app.config.allowRawGraphs, maxBytes: app.config.rawGraphMaxBytes, catalogues: () => app.workers.nodeCatalogues() }),
    inputs: new InputResolver(app.uploads),
    uploads: app.uploads,
    uploadQuota: app.uploadQuota,
    webhooks: { check: body => checkWebhook(body, app.config.webhooks) },
    logger,
    metrics: app.metrics,
    redisReadTimeoutMs: redisCommandTimeoutMs,
    outcomeTimeoutMs: submitOutcomeTimeoutMs,
    lookupTimeoutMs: app.config.txMaxWaitMs + app.config.txTimeoutMs
  }))
  app.addHook('onClose', async () => { creator.close() })
  app.decorate('jobWatch', {
    events: app.jobEvents,
    hub: app.jobEventHub,
    // every owner's: a transport narrows it to the caller's (ownedWatch)
    status: (jobId: string) => app.jobs.status(jobId, null),
    recordedEnd: (jobId: string) => app.jobStore.endOf(jobId)
  })
}, { name: 'jobs', dependencies: ['auth', 'prisma', 'queue', 'ingest', 'metrics', 'uploads'] })
