import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { ErrorBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { perMinuteLimit } from '../../limits/route-rate-limit.ts'
import { fieldProblems, type FieldProblem } from '../../validation-errors.ts'
import { PASSWORD_MAX, checkPassword, normalizeEmail, normalizeName } from '../../accounts/account-fields.ts'
import { sessionCookie } from '../../accounts/session-cookie.ts'

const User = Type.Object({
  id: Type.Integer(),
  email: Type.String(),
  name: Type.String(),
  role: Type.String(),
  created_at: Type.String()
})
/** loose bounds here (a body never carries megabytes of "email"); the handlers say what each field must be */
const Text = Type.String({ maxLength: 1024 })
const RegisterBody = Type.Object({ email: Text, password: Text, name: Text }, { additionalProperties: false })
const LoginBody = Type.Object({ email: Text, password: Text }, { additionalProperties: false })

/** Runs every field check and reports every failed field in one 400. */
function checked<T extends Record<string, unknown>> (checks: { [K in keyof T]: () => T[K] }): T {
  const problems: FieldProblem[] = []
  const out: Record<string, unknown> = {}
  for (const [field, check] of Object.entries(checks)) {
    try {
      out[field] = check()
    } catch (err) {
      if (!(err instanceof AppError) || !Array.isArray(err.details)) throw err
      problems.push(...err.details as FieldProblem[])
    }
  }
  if (problems.length > 0) throw fieldProblems(problems)
  return out as T
}

/** Redis (sessions, login counts) failed: a bounded 503, not a 500. */
function sessionsDown (err: unknown): never {
  throw new AppError('SESSIONS_UNAVAILABLE', { headers: { 'retry-after': '1' }, cause: err })
}

/**
 * The original's accounts: register, login (a session cookie), logout, and who is logged in. A
 * session makes its user the owner `user:<id>` of what they submit (plugins/auth.ts).
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  const { accounts, config } = app
  const setSession = (request: FastifyRequest, reply: FastifyReply, id: string, maxAgeSeconds: number) => {
    reply.header('set-cookie', sessionCookie(id, { maxAgeSeconds, secure: request.protocol === 'https' }))
    reply.header('cache-control', 'no-store')
  }
  const perMinute = config.registerRateLimitPerMinute

  app.post('/api/register', {
    config: perMinuteLimit(perMinute, 'TOO_MANY_REGISTRATIONS', 'registrations', 'REGISTER_RATE_LIMIT_PER_MINUTE'),
    schema: {
      summary: 'Create an account (the original\'s register); then log in',
      body: RegisterBody,
      response: { 201: Type.Object({ success: Type.Literal(true), user: User }), 400: ErrorBody, 403: ErrorBody, 409: ErrorBody, 429: ErrorBody }
    }
  }, async (request, reply) => {
    if (!config.allowRegistration) throw new AppError('REGISTRATION_CLOSED', { details: 'ALLOW_REGISTRATION=false' })
    const body = request.body
    const input = checked({
      email: () => normalizeEmail(body.email),
      password: () => checkPassword(body.password),
      name: () => normalizeName(body.name)
    })
    const user = await accounts.users.create({ email: input.email, name: input.name, passwordHash: await accounts.passwords.hash(input.password) })
    if (user === null) throw new AppError('EMAIL_TAKEN', { details: [{ field: 'email', message: 'an account with this email exists: log in instead' }] })
    request.log.info({ user_id: user.id }, 'user registered')
    return reply.code(201).send({ success: true as const, user })
  })

  app.post('/api/login', {
    schema: {
      summary: 'Log in with email and password: sets the session cookie (HttpOnly, SameSite=Lax)',
      body: LoginBody,
      response: { 200: Type.Object({ success: Type.Literal(true), user: User }), 400: ErrorBody, 401: ErrorBody, 429: ErrorBody }
    }
  }, async (request, reply) => {
    const body = request.body
    const input = checked({
      email: () => normalizeEmail(body.email),
      password: () => {
        if (body.password.length === 0 || body.password.length > PASSWORD_MAX) throw fieldProblems([{ field: 'password', message: `password must be 1 to ${PASSWORD_MAX} characters` }])
        return body.password
      }
    })
    const gate = await accounts.logins.attempt(input.email, request.ip).catch(sessionsDown)
    if (gate.retryAfter > 0) {
      request.log.warn({ by: gate.limit }, 'login attempts over the limit')
      throw new AppError('TOO_MANY_LOGINS', {
        details: `too many login attempts ${gate.limit === 'email' ? 'for this email' : 'from this address'}: try again in ${gate.retryAfter} s`,
        headers: { 'retry-after': String(gate.retryAfter) }
      })
    }
    const found = await accounts.users.credentials(input.email)
    const ok = found === null
      ? await accounts.passwords.waste(input.password).then(() => false)
      : await accounts.passwords.verify(input.password, found.passwordHash)
    if (!ok || found === null) throw new AppError('INVALID_CREDENTIALS')
    await accounts.logins.succeeded(input.email, request.ip).catch(sessionsDown)
    if (request.session !== null) await accounts.sessions.revoke(request.session.id).catch(sessionsDown)
    const id = await accounts.sessions.create(found.user.id).catch(sessionsDown)
    request.log.info({ user_id: found.user.id }, 'user logged in')
    setSession(request, reply, id, accounts.sessions.ttlSeconds)
    return { success: true as const, user: found.user }
  })

  app.post('/api/logout', {
    schema: {
      summary: 'Log out: the session is deleted on the server and the cookie cleared',
      response: { 200: Type.Object({ success: Type.Literal(true), message: Type.String() }) }
    }
  }, async (request, reply) => {
    if (request.session !== null) {
      await accounts.sessions.revoke(request.session.id).catch(sessionsDown)
      request.log.info({ user_id: request.session.userId }, 'user logged out')
    }
    setSession(request, reply, '', 0)
    return { success: true as const, message: 'Logged out' }
  })

  app.get('/api/me', {
    schema: {
      summary: 'Who is logged in (the session cookie\'s user), or nobody: always 200',
      response: { 200: Type.Object({ logged_in: Type.Boolean(), user: Type.Union([User, Type.Null()]) }) }
    }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const user = request.session === null ? null : await accounts.users.byId(request.session.userId)
    return { logged_in: user !== null, user }
  })

  app.delete('/api/me/sessions', {
    schema: {
      summary: 'Log out everywhere: every session of the logged-in user is deleted',
      response: { 200: Type.Object({ success: Type.Literal(true), revoked: Type.Integer() }), 401: ErrorBody }
    }
  }, async (request, reply) => {
    const revoked = await accounts.sessions.revokeAll(request.caller.userId!).catch(sessionsDown)
    request.log.info({ user_id: request.caller.userId, revoked }, 'every session of the user revoked')
    setSession(request, reply, '', 0)
    return { success: true as const, revoked }
  })
}

export default route
