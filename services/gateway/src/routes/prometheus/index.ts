import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'

/** GET /metrics: Prometheus text exposition of the gateway's registry. */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics',
      response: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: Type.String() } } } }
    }
  }, async (_request, reply) => {
    const text = await app.metrics.text()
    return reply.type(app.metrics.contentType).send(text)
  })
}

export default route
