import { isUtf8 } from 'node:buffer'
import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { assertWellFormed } from '../well-formed.ts'

function badRequest (message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY', name: 'BadRequest' }) as FastifyError
}

/**
 * JSON bodies only: strict UTF-8 and well-formed strings (invalid bytes or a lone surrogate are a
 * 400 naming the field, not silently replaced), and no text/plain parser, so a body of another type is a 415.
 */
export default fp(async (app) => {
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body: Buffer, done) => {
    if (body.length === 0) return done(badRequest('the body is empty; send a JSON object'), undefined)
    if (!isUtf8(body)) return done(badRequest('the body is not valid UTF-8'), undefined)
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch (err) {
      return done(badRequest(`the body is not valid JSON: ${(err as Error).message}`), undefined)
    }
    // valid UTF-8 can still spell a lone surrogate as a JSON escape ("\ud800")
    try {
      assertWellFormed(parsed)
    } catch (err) {
      return done(err as FastifyError, undefined)
    }
    done(null, parsed)
  })
}, { name: 'json-body' })
