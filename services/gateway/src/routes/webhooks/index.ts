import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, JobIdParams, Nullable, NotFoundBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { isJobId } from '../../jobs/job-service.ts'
import { ownerScope } from '../../auth/caller.ts'

const Attempt = Type.Object({
  attempt: Type.Integer(),
  at: Type.String(),
  status_code: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  duration_ms: Type.Integer()
})

const DeliveryLog = Type.Object({
  job_id: Type.String(),
  webhook: Nullable(Type.String()),
  events: Type.Array(Type.String()),
  deliveries: Type.Array(Type.Object({
    webhook_id: Type.String(),
    event: Type.String(),
    state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
    attempts: Type.Integer(),
    last_status: Nullable(Type.Integer()),
    last_error: Nullable(Type.String()),
    created_at: Type.String(),
    delivered_at: Nullable(Type.String()),
    next_attempt_at: Nullable(Type.String({ description: 'when the next attempt is due; null once delivered or given up' })),
    attempt_log: Type.Array(Attempt)
  }))
})

const Secrets = Type.Object({
  owner: Type.String(),
  secrets: Type.Array(Type.Object({
    secret: Type.String({ description: 'whsec_ + base64 key (Standard Webhooks)' }),
    created_at: Type.String(),
    expires_at: Nullable(Type.String({ description: 'null: the current secret; else it signs until then' }))
  }), { description: 'newest first; every one listed signs each webhook (webhook-signature carries one v1 signature each)' })
})

/**
 * A job's webhook delivery log (scope `read`, the caller's jobs), and the caller's owner's signing
 * secrets (scope `submit`: a secret lets its holder forge the owner's webhooks, so a read-only key
 * does not get it; the keys that name webhook URLs do). Each owner has its own secrets, admin included.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/jobs/:job_id/webhooks', {
    schema: { summary: 'A job\'s webhook deliveries: each event, its attempts and status codes, the next retry', params: JobIdParams, response: { 200: DeliveryLog, 404: NotFoundBody } }
  }, async (request) => {
    const jobId = request.params.job_id
    const job = isJobId(jobId) ? await app.prisma.job.findUnique({ where: { id: jobId }, select: { owner: true, webhook: true, webhookEvents: true } }) : null
    const scope = ownerScope(request.caller)
    // another owner's job answers exactly as an unknown one
    if (!job || (scope !== null && job.owner !== scope)) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
    const [deliveries, attempts] = await Promise.all([
      app.prisma.webhookDelivery.findMany({ where: { jobId }, orderBy: { seq: 'asc' } }),
      app.prisma.webhookAttempt.findMany({ where: { jobId }, orderBy: { id: 'asc' } })
    ])
    return {
      job_id: jobId,
      webhook: job.webhook,
      events: job.webhookEvents ? job.webhookEvents.split(',') : [],
      deliveries: deliveries.map(d => ({
        webhook_id: d.webhookId,
        event: d.event,
        state: d.state as 'pending' | 'delivered' | 'failed',
        attempts: d.attempts,
        last_status: d.lastStatus,
        last_error: d.lastError,
        created_at: d.createdAt.toISOString(),
        delivered_at: d.deliveredAt?.toISOString() ?? null,
        next_attempt_at: d.state === 'pending' ? d.nextAttemptAt.toISOString() : null,
        attempt_log: attempts.filter(a => a.webhookId === d.webhookId).map(a => ({
          attempt: a.attempt, at: a.at.toISOString(), status_code: a.statusCode, error: a.error, duration_ms: a.durationMs
        }))
      }))
    }
  })

  app.get('/api/webhooks/secrets', {
    schema: { summary: 'The secrets that sign your webhooks (made on first use)', response: { 200: Secrets } }
  }, async (request) => {
    const owner = request.caller.owner
    return { owner, secrets: await app.webhookSecrets.list(owner) }
  })

  app.post('/api/webhooks/secrets/rotate', {
    schema: {
      summary: 'A new signing secret; the old ones go on signing for overlap_seconds (default WEBHOOK_ROTATION_OVERLAP_MS, 24 h)',
      body: Type.Optional(Type.Object({ overlap_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 30 * 86400 })) }, { additionalProperties: false })),
      response: { 200: Secrets, 400: ErrorBody }
    }
  }, async (request) => {
    const owner = request.caller.owner
    const overlapMs = request.body?.overlap_seconds !== undefined ? request.body.overlap_seconds * 1000 : app.config.webhooks.rotationOverlapMs
    return { owner, secrets: await app.webhookSecrets.rotate(owner, overlapMs) }
  })
}

export default route
