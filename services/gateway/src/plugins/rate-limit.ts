import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import { AppError } from '../app-error.ts'

/**
 * Per-client limits, opted into by routes (`config.rateLimit`). Kept in process memory on purpose:
 * a limiter must not fail when Redis does. Status reads are not limited (the original's 2/s limit
 * broke its own polling front end). A caller with an API key is limited per key, a logged-in user per user, others per IP; so
 * the limit runs once the caller is known (preHandler, after the auth hook).
 */
export default fp(async (app) => {
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: request => request.caller?.keyId ?? (request.caller?.userId != null ? `user:${request.caller.userId}` : request.ip),
    errorResponseBuilder: (_request, context) => new AppError('RATE_LIMITED', {
      details: `at most ${context.max} submits per ${context.after}`,
      headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) }
    })
  })
}, { name: 'rate-limit', dependencies: ['config'] })
