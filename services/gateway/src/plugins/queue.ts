import fp from 'fastify-plugin'
import { Queue } from 'bullmq'
import { JobQueue } from '../jobs/job-queue.ts'
import { StatusCache } from '../jobs/status-cache.ts'

declare module 'fastify' {
  interface FastifyInstance {
    jobQueue: JobQueue
    statusCache: StatusCache
  }
}

export default fp(async (app) => {
  const { queueName, queuePushTimeoutMs, statusTtlSeconds } = app.config
  const makeQueue = (name: string): Queue => {
    const queue = new Queue(name, {
      connection: app.redis,
      defaultJobOptions: { removeOnComplete: { age: 3600, count: 10000 }, removeOnFail: { age: 86400 } }
    })
    queue.on('error', err => app.log.warn({ component: 'queue', queue: name, err: err.message }, 'queue error'))
    return queue
  }
  const queue = makeQueue(queueName)
  const statusCache = new StatusCache(app.redis, statusTtlSeconds)
  app.decorate('statusCache', statusCache)
  const jobQueue = new JobQueue(queue, app.redis, statusCache, queuePushTimeoutMs, makeQueue)
  app.decorate('jobQueue', jobQueue)
  app.addHook('onClose', async () => { await jobQueue.close() })
}, { name: 'queue', dependencies: ['config', 'redis'] })
