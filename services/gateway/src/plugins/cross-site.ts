import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { AppError } from '../app-error.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A page of another site can send a "simple" request (a form, `fetch(..., {mode: 'no-cors'})`) that
 * CORS does not stop: it only hides the answer, after the job was cancelled. So a state-changing
 * request made by a browser for a page of another origin is refused unless that origin is in
 * CORS_ORIGINS. Browsers say who asks in `Sec-Fetch-Site` (else `Origin`); clients that are not
 * browsers (the CLI, curl, services) send neither and are not concerned.
 */
export function crossSiteOrigin (request: FastifyRequest): string | null {
  const site = request.headers['sec-fetch-site']
  const origin = request.headers.origin
  if (site !== undefined) return site === 'same-origin' || site === 'none' ? null : (origin ?? site)
  if (origin === undefined) return null
  let host: string
  try { host = new URL(origin).host } catch { return origin }
  return host === request.headers.host ? null : origin
}

export default fp(async (app) => {
  const allowed = new Set(app.config.corsOrigins)
  app.addHook('onRequest', async (request) => {
    if (SAFE_METHODS.has(request.method)) return
    const from = crossSiteOrigin(request)
    if (from === null || allowed.has(from)) return
    request.log.warn({ origin: from, method: request.method, url: request.url }, 'cross-site request refused')
    throw new AppError('CROSS_SITE_REFUSED', { extra: { origin: from } })
  })
}, { name: 'cross-site', dependencies: ['config', 'error-handler'] })
