import type { Scope } from '@comfy-jobs/db'

/**
 * What a route needs: a scope, nothing (`open`), or a logged-in user (`session`: a session cookie, never
 * an API key). `signable`: a signed URL may stand in for the key.
 */
export interface RouteNeed {
  scope: Scope | 'open' | 'session'
  signable: boolean
}

const OPEN: RouteNeed = { scope: 'open', signable: false }
const ADMIN: RouteNeed = { scope: 'admin', signable: false }
const SESSION: RouteNeed = { scope: 'session', signable: false }

/** Every API route and what it needs; keyed `METHOD url-pattern` as Fastify names routes. */
export const ROUTE_SCOPES: Readonly<Record<string, RouteNeed>> = {
  'POST /api/generate': { scope: 'submit', signable: false },
  'POST /api/upload': { scope: 'submit', signable: false },
  'GET /api/status/:job_id': { scope: 'read', signable: false },
  'GET /api/jobs/:job_id': { scope: 'read', signable: false },
  'GET /api/jobs/:job_id/events': { scope: 'read', signable: true },
  'GET /api/jobs/:job_id/signed-urls': { scope: 'read', signable: false },
  'GET /api/history': { scope: 'read', signable: false },
  'POST /api/cancel/:job_id': { scope: 'cancel', signable: false },
  'GET /api/jobs/:job_id/webhooks': { scope: 'read', signable: false },
  // a signing secret lets its holder forge the owner's webhooks: the keys that name webhook URLs get it, not read-only ones
  'GET /api/webhooks/secrets': { scope: 'submit', signable: false },
  'POST /api/webhooks/secrets/rotate': { scope: 'submit', signable: false },
  'GET /outputs/*': { scope: 'read', signable: true },
  'GET /api/metrics': { scope: 'read', signable: false },
  'GET /api/workflows': { scope: 'read', signable: false },
  'GET /api/models': { scope: 'read', signable: false },
  'GET /api/health': ADMIN,
  'GET /metrics': ADMIN,
  'GET /api/keys': ADMIN,
  'POST /api/keys': ADMIN,
  'DELETE /api/keys/:key_id': ADMIN,
  'GET /health': OPEN,
  // accounts: anyone may register and log in; /api/me says who is logged in (or nobody)
  'GET /api/me': OPEN,
  'POST /api/register': OPEN,
  'POST /api/login': OPEN,
  'POST /api/logout': OPEN,
  // a user's own API keys and sessions: with the session, so a key cannot make itself a stronger key
  'GET /api/me/keys': SESSION,
  'POST /api/me/keys': SESSION,
  'DELETE /api/me/keys/:key_id': SESSION,
  'DELETE /api/me/sessions': SESSION
}

/**
 * What a request to this route needs. A route not in the table: open when it is the web page (static
 * files), admin under /api, /outputs, /metrics and /docs (so a route added without a row is closed).
 */
export function routeNeed (method: string, url: string | undefined): RouteNeed {
  if (url === undefined) return OPEN // no route: the 404 handler answers, and tells nothing
  const listed = ROUTE_SCOPES[`${method === 'HEAD' ? 'GET' : method} ${url}`]
  if (listed !== undefined) return listed
  return /^\/(api|outputs|metrics|docs)(\/|$)/.test(url) ? ADMIN : OPEN
}
