import { isUtf8 } from 'node:buffer'
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'

function badRequest (message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', name: 'BadRequest' }) as FastifyError
}

/**
 * JSON bodies only: strict UTF-8 (invalid bytes are a 400, not silently replaced), and no text/plain
 * parser, so a body of another type is a 415.
 */
export default fp(async (app) => {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    if (body.length === 0) return done(badRequest('the body is empty; send a JSON object'), undefined)
    if (!isUtf8(body)) return done(badRequest('the body is not valid UTF-8'), undefined)
    try {
      done(null, JSON.parse(body.toString('utf8')))
    } catch (err) {
      done(badRequest(`the body is not valid JSON: ${(err as Error).message}`), undefined)
    }
  })
}, { name: 'json-body' })
