import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'

const OUTPUT_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(_[0-9]{1,2})?\.png$/

const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/outputs/*', {
    schema: {
      summary: 'An output image: {job_id}.png, or {job_id}_{i}.png for batch items',
      params: Type.Object({ '*': Type.String() }),
      response: { 200: Type.Unsafe<NodeJS.ReadableStream>({ description: 'the PNG', content: { 'image/png': { schema: { type: 'string', format: 'binary' } } } }), 403: ErrorBody, 404: ErrorBody }
    }
  }, async (request, reply) => {
    const name = request.params['*']
    let decoded: string
    try { decoded = decodeURIComponent(name) } catch { throw new AppError('FORBIDDEN_PATH', { details: 'bad escape in path' }) }
    if (decoded.includes('/') || decoded.includes('\\') || decoded.includes('..') || decoded.includes('\0')) {
      throw new AppError('FORBIDDEN_PATH', { details: 'path traversal refused' })
    }
    if (!OUTPUT_NAME.test(decoded)) throw new AppError('NOT_FOUND', { details: `no output named ${decoded}` })
    const path = app.outputs.pathOf(decoded)
    const info = await stat(path).catch(() => null)
    if (!info?.isFile()) throw new AppError('NOT_FOUND', { details: `no output named ${decoded}` })
    return reply
      .type('image/png')
      .header('content-length', info.size)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .send(createReadStream(path))
  })
}

export default route
