import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ApiKey } from '../keys/index.ts'

const UserScope = Type.Union([Type.Literal('submit'), Type.Literal('read'), Type.Literal('cancel')])
const CreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 128 }),
  scopes: Type.Array(UserScope, { minItems: 1, maxItems: 3, uniqueItems: true })
}, { additionalProperties: false })

/**
 * A logged-in user's own API keys (owner `user:<id>`, never admin): for scripts and the CLI acting as
 * the user. Only a session reaches these routes (route-scopes.ts), so a key cannot mint a stronger key.
 * Another owner's key answers exactly as an unknown one.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/me/keys', {
    schema: { summary: 'The logged-in user\'s API keys (never their secrets)', response: { 200: Type.Object({ keys: Type.Array(ApiKey) }), 401: ErrorBody } }
  }, async (request) => ({ keys: await app.auth.keys.list(request.caller.owner) }))

  app.post('/api/me/keys', {
    schema: {
      summary: 'Make an API key of the logged-in user; the secret is in this answer only',
      body: CreateBody,
      response: { 201: Type.Object({ key: ApiKey, secret: Type.String() }), 400: ErrorBody, 401: ErrorBody }
    }
  }, async (request, reply) => {
    const { name, scopes } = request.body
    const created = await app.auth.keys.create({ owner: request.caller.owner, name, scopes })
    request.log.info({ key_id: created.key.id, user_id: request.caller.userId, scopes }, 'API key created by its user')
    return reply.code(201).send(created)
  })

  app.delete('/api/me/keys/:key_id', {
    schema: {
      summary: 'Revoke one of the logged-in user\'s API keys',
      params: Type.Object({ key_id: Type.String({ maxLength: 36 }) }),
      response: { 200: Type.Object({ key: ApiKey }), 401: ErrorBody, 404: ErrorBody }
    }
  }, async (request) => {
    const key = await app.auth.keys.revoke(request.params.key_id, request.caller.owner)
    if (key === null) throw new AppError('NOT_FOUND', { details: `no API key ${request.params.key_id}` })
    app.auth.cache.evict(key.id)
    request.log.info({ key_id: key.id, user_id: request.caller.userId }, 'API key revoked by its user')
    return { key }
  })
}

export default route
