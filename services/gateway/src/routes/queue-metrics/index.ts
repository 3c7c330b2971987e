import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody, QueueMetrics } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'

/** GET /api/metrics: the original's queue summary, from BullMQ's counters (no key scans). */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/metrics', {
    schema: { summary: 'Queue length, worker status and active jobs', response: { 200: QueueMetrics, 500: ErrorBody } }
  }, async () => {
    try {
      const [depth, consumers] = await Promise.all([app.jobQueue.depth(), app.jobQueue.consumers()])
      return {
        queue_length: depth.waiting + depth.prioritized + depth.delayed,
        worker_status: consumers > 0 ? 'online' as const : 'offline' as const,
        active_jobs: depth.active
      }
    } catch (err) {
      throw new AppError('QUEUE_UNAVAILABLE', { details: 'the job queue (Redis) cannot be reached', cause: err })
    }
  })
}

export default route
