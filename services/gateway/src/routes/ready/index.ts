import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withDeadline } from '../../deadline.ts'
import { QUEUE_FULL_RETRY_AFTER_S } from '../../jobs/queue-admission.ts'

const PROBE_MS = 1000

const ReadyResponse = Type.Object({
  ready: Type.Boolean(),
  /** why not, in words; empty when ready */
  reasons: Type.Array(Type.String()),
  queue: Type.Object({
    /** jobs waiting to run; null when the queue cannot be read */
    waiting: Type.Union([Type.Number(), Type.Null()]),
    /** MAX_QUEUE_DEPTH; 0: no limit */
    max_depth: Type.Number()
  }),
  workers: Type.Object({ configured: Type.Number(), connected: Type.Number() })
})

/**
 * Readiness, as comfyui-api's /ready: 200 while this gateway takes submits (Redis and the database
 * answer, the queue is below MAX_QUEUE_DEPTH), else 503 with Retry-After and the reasons. Workers are
 * reported but do not decide it: jobs queue while none is up. Liveness stays /health.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/ready', { schema: { summary: 'Whether this gateway takes submits now', response: { 200: ReadyResponse, 503: ReadyResponse } } }, async (_request, reply) => {
    const reasons: string[] = []
    const [waiting, redisUp, databaseUp] = await Promise.all([
      withDeadline(app.queueAdmission.now(), PROBE_MS, 'queue depth').catch(() => null),
      withDeadline(app.redis.ping(), PROBE_MS, 'redis probe').then(() => true, () => false),
      withDeadline(app.mysql.query('SELECT 1'), PROBE_MS, 'database probe').then(() => true, () => false)
    ])
    if (!redisUp) reasons.push('the job queue (Redis) does not answer')
    if (!databaseUp) reasons.push('the database does not answer')
    const max = app.queueAdmission.maxDepth
    if (waiting !== null && max > 0 && waiting >= max) reasons.push(`the queue is full: ${waiting} jobs wait, MAX_QUEUE_DEPTH is ${max}`)
    const { configured, connected } = app.workers.summary()
    const ready = reasons.length === 0
    if (!ready) reply.code(503).header('retry-after', String(QUEUE_FULL_RETRY_AFTER_S))
    return { ready, reasons, queue: { waiting, max_depth: max }, workers: { configured, connected } }
  })
}

export default route
