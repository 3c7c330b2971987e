import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, GenerateAccepted, GenerateBody, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'

const route: FastifyPluginAsyncTypebox = async (app) => {
  const perMinute = app.config.submitRateLimitPerMinute
  app.post('/api/generate', {
    config: perMinute > 0 ? { rateLimit: { max: perMinute, timeWindow: '1 minute' } } : {},
    schema: {
      body: GenerateBody,
      headers: Type.Object({
        'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' }))
      }),
      response: { 200: GenerateAccepted, 400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody }
    }
  }, async (request, reply) => {
    const { job_id: jobId, replayed } = await app.jobs.submit(request.body, { idempotencyKey: request.headers['idempotency-key'] })
    if (replayed) reply.header('idempotent-replayed', 'true')
    return { job_id: jobId, status: 'queued' as const, message: SUBMIT_MESSAGE }
  })
}

export default route
