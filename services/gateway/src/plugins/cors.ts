import fp from 'fastify-plugin'
import cors from '@fastify/cors'

/**
 * CORS for the origins in CORS_ORIGINS only (none by default: the page is served by the gateway
 * itself). Preflights are answered either way; an origin not listed gets no Access-Control headers,
 * so its browser keeps the answer from it. Credentials are allowed for listed origins (the original
 * pages fetch with `credentials: 'include'`).
 */
export default fp(async (app) => {
  const allowed = new Set(app.config.corsOrigins)
  await app.register(cors, {
    origin: (origin, callback) => callback(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', 'idempotency-key', 'last-event-id', 'range', 'if-range', 'if-none-match'],
    exposedHeaders: ['retry-after', 'idempotent-replayed', 'content-range', 'etag'],
    maxAge: 600
  })
}, { name: 'cors', dependencies: ['config'] })
