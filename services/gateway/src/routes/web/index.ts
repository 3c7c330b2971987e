import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const PUBLIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url))

/**
 * The web page at / (plain HTML, ES modules and CSS from services/gateway/public; no build step), or
 * the pages in WEB_ROOT instead (an operator's own, e.g. the original system's): same origin as the
 * API, so pages that call it by relative paths work on whatever port the gateway listens on.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(fastifyStatic, {
    root: app.config.webRoot ?? PUBLIC_DIR,
    prefix: '/',
    index: 'index.html',
    wildcard: false, // one route per file, so unknown paths reach the JSON 404 handler
    schemaHide: true,
    cacheControl: true,
    maxAge: 0
  })
}

export default route
