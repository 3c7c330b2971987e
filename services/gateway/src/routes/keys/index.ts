import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { OWNER_PATTERN, parseScopes } from '@comfy-jobs/db'
import { ErrorBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'

const ScopeName = Type.Union([Type.Literal('submit'), Type.Literal('read'), Type.Literal('cancel'), Type.Literal('admin')])
export const ApiKey = Type.Object({
  id: Type.String(),
  owner: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ScopeName),
  prefix: Type.String({ description: 'the secret\'s first characters, to recognise the key' }),
  created_at: Type.String(),
  last_used_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()])
})
const CreateKeyBody = Type.Object({
  owner: Type.String({ pattern: OWNER_PATTERN.source, description: 'whose jobs the key submits and sees: lowercase letters, digits, _ . -' }),
  name: Type.String({ minLength: 1, maxLength: 128 }),
  scopes: Type.Array(ScopeName, { minItems: 1, maxItems: 4, uniqueItems: true })
}, { additionalProperties: false })

/** Key management for `admin` keys (the CLI's `comfy-jobs keys` does the same on the database). */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/keys', {
    schema: {
      summary: 'Create an API key (admin); the secret is in this answer only',
      body: CreateKeyBody,
      response: { 201: Type.Object({ key: ApiKey, secret: Type.String() }), 400: ErrorBody }
    }
  }, async (request, reply) => {
    const { owner, name, scopes } = request.body
    const created = await app.auth.keys.create({ owner, name, scopes: parseScopes(scopes.join(',')) })
    request.log.info({ key_id: created.key.id, owner, scopes }, 'API key created')
    return reply.code(201).send(created)
  })

  app.get('/api/keys', {
    schema: {
      summary: 'List API keys (admin); never their secrets',
      querystring: Type.Object({ owner: Type.Optional(Type.String({ pattern: OWNER_PATTERN.source })) }),
      response: { 200: Type.Object({ keys: Type.Array(ApiKey) }) }
    }
  }, async (request) => ({ keys: await app.auth.keys.list(request.query.owner) }))

  app.delete('/api/keys/:key_id', {
    schema: {
      summary: `Revoke an API key (admin): refused at once by this gateway, by the others within AUTH_KEY_CACHE_MS`,
      params: Type.Object({ key_id: Type.String({ maxLength: 36 }) }),
      response: { 200: Type.Object({ key: ApiKey }), 404: ErrorBody }
    }
  }, async (request) => {
    const key = await app.auth.keys.revoke(request.params.key_id)
    if (key === null) throw new AppError('NOT_FOUND', { details: `no API key ${request.params.key_id}` })
    app.auth.cache.evict(key.id)
    request.log.info({ key_id: key.id }, 'API key revoked')
    return { key }
  })
}

export default route
