import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { withRouteDocs } from '../openapi/route-docs.ts'

/**
 * The OpenAPI document, generated from the routes' TypeBox schemas (so it cannot drift from what is
 * validated and serialised): GET /openapi.json, and the interactive documentation at /docs.
 * Registered before the routes, which it collects as they are added.
 */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'comfy-jobs gateway',
        version: '0.1.0',
        description: 'A job service for image generation with ComfyUI: submit, status, live progress (SSE), history, outputs, uploads.'
      }
    },
    // groups by resource, summaries and examples: services/gateway/src/openapi/route-docs.ts
    transformObject: (documents) => withRouteDocs((documents as { openapiObject: Parameters<typeof withRouteDocs>[0] }).openapiObject) as never
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'openapi' })
