import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import { ApiKeyStore } from '@comfy-jobs/db'
import { AppError } from '../app-error.ts'
import { authRequired } from '../auth/auth-mode.ts'
import { KeyCache } from '../auth/key-cache.ts'
import { UrlSigner } from '../auth/url-signer.ts'
import { NOBODY, OPEN_CALLER, SIGNED_URL_CALLER, callerOfKey, callerOfUser, mayDo, type Caller } from '../auth/caller.ts'
import { sessionIdOf } from '../accounts/session-cookie.ts'
import { ownerOfUser } from '../accounts/user-store.ts'
import { routeNeed } from '../auth/route-scopes.ts'

/** Authentication as the transports use it: REST's hook below, gRPC's metadata check (grpc/authenticate.ts). */
export interface Auth {
  /** false while AUTH is off (or unset on a loopback address): every caller is OPEN_CALLER */
  required: boolean
  keys: ApiKeyStore
  cache: KeyCache
  signer: UrlSigner
  /** The caller an `authorization` value (`Bearer <key>`) names; throws UNAUTHENTICATED / AUTH_UNAVAILABLE. */
  callerOf: (authorization: string | undefined) => Promise<Caller>
}

declare module 'fastify' {
  interface FastifyInstance {
    auth: Auth
  }
  interface FastifyRequest {
    /** who sent the request (set before any handler runs) */
    caller: Caller
    /** the request's login session (its cookie), null when it has none or it is not valid */
    session: RequestSession | null
  }
}

export interface RequestSession {
  id: string
  userId: number
}

/** Routes that may know who is logged in: the API and the outputs (not the pages' static files). */
const SESSION_AWARE = /^\/(api|outputs)\//

const BEARER = /^Bearer +(\S+) *$/i

function signedQuery (request: FastifyRequest): { exp: string, sig: string } | null {
  const q = request.query as { exp?: unknown, sig?: unknown } | undefined
  return typeof q?.exp === 'string' && typeof q.sig === 'string' ? { exp: q.exp, sig: q.sig } : null
}

/**
 * API keys: `Authorization: Bearer <key>` on every route that needs a scope (auth/route-scopes.ts),
 * or a signed URL where one may stand in. Another owner's job is answered as an unknown one by the
 * job service (the caller's owner scopes every read); here only "who, and may they" is decided.
 */
export default fp(async (app) => {
  const { config } = app
  const keys = new ApiKeyStore(app.prisma)
  const required = await authRequired(config.auth, [config.host, config.grpcHost], () => keys.countActive())
  const log = app.log.child({ component: 'auth' })
  const cache = new KeyCache(keys, config.authKeyCacheMs, err => log.warn({ err: (err as Error).message }, 'could not record when a key was last used'))
  const signer = new UrlSigner(config.authUrlSecret !== null ? Buffer.from(config.authUrlSecret) : randomBytes(32), config.authUrlTtlSeconds)

  async function callerOf (authorization: string | undefined): Promise<Caller> {
    if (!required) return OPEN_CALLER
    const secret = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1]
    if (secret === undefined) throw new AppError('UNAUTHENTICATED', { headers: { 'www-authenticate': 'Bearer' } })
    let key
    try {
      key = await cache.resolve(secret)
    } catch (err) {
      log.error({ err: (err as Error).message }, 'API key lookup failed')
      throw new AppError('AUTH_UNAVAILABLE', { headers: { 'retry-after': '1' }, cause: err })
    }
    if (key === null) throw new AppError('UNAUTHENTICATED', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } })
    return callerOfKey(key)
  }

  /** The valid session the request's cookie names, or null; throws SESSIONS_UNAVAILABLE when Redis cannot say. */
  async function sessionOf (request: FastifyRequest): Promise<RequestSession | null> {
    const id = sessionIdOf(request.headers.cookie)
    if (id === null) return null
    let session
    try {
      session = await app.accounts.sessions.find(id)
    } catch (err) {
      log.error({ err: (err as Error).message }, 'session lookup failed')
      throw new AppError('SESSIONS_UNAVAILABLE', { headers: { 'retry-after': '1' }, cause: err })
    }
    return session === null ? null : { id, userId: session.userId }
  }

  app.decorate('auth', { required, keys, cache, signer, callerOf })
  app.decorateRequest('caller', null as unknown as Caller) // set by the hook below (NOBODY on open routes)
  app.decorateRequest('session', null)
  log.info({ required, setting: config.auth, keyCacheMs: config.authKeyCacheMs }, required ? 'API keys required' : 'authentication off')

  /**
   * Who calls: an API key (`Authorization`) while auth is required; else a signed URL where one may
   * stand in; else a login session (cookie), which also wins over the open caller while auth is off.
   */
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url
    const need = routeNeed(request.method, url)
    const session = url !== undefined && SESSION_AWARE.test(url) ? await sessionOf(request) : null
    request.session = session
    const user = session === null ? null : callerOfUser(session.userId, ownerOfUser(session.userId))
    if (need.scope === 'session') {
      if (user === null) throw new AppError('SESSION_REQUIRED')
      request.caller = user
      return
    }
    if (!required) {
      request.caller = user ?? OPEN_CALLER
      return
    }
    request.caller = user ?? NOBODY
    if (need.scope === 'open') return
    const signed = need.signable ? signedQuery(request) : null
    if (signed !== null && request.headers.authorization === undefined) {
      const path = request.url.slice(0, request.url.indexOf('?'))
      if (!signer.verify(path, signed.exp, signed.sig)) {
        throw new AppError('UNAUTHENTICATED', { details: 'the signed URL is expired or not valid: ask for a new one' })
      }
      request.caller = SIGNED_URL_CALLER
      return
    }
    const caller = user !== null && request.headers.authorization === undefined ? user : await callerOf(request.headers.authorization)
    if (!mayDo(caller, need.scope)) throw new AppError('MISSING_SCOPE', { details: `this route needs the ${need.scope} scope` })
    request.caller = caller
  })
}, { name: 'auth', dependencies: ['config', 'prisma', 'mysql', 'accounts'] })
