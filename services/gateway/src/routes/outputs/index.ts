import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, OUTPUT_CONTENT_TYPES } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ownerScope } from '../../auth/caller.ts'
import { etagMatches, parseRange } from './byte-range.ts'
import { OutputTags } from './output-tags.ts'

const OUTPUT_NAME = new RegExp(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(_[0-9]{1,2})?\\.(${Object.keys(OUTPUT_CONTENT_TYPES).join('|')})$`)
const CACHE_CONTROL = 'public, max-age=31536000, immutable'

/**
 * GET /outputs/{file}: an output as any HTTP cache and media player expects it: its content type,
 * `Range` (206, for video seeking; 416 past the end), a strong ETag from its sha256 (If-None-Match and
 * If-Modified-Since answer 304) and cache headers (an output never changes).
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  const tags = new OutputTags(async filename => {
    const row = await app.prisma.output.findFirst({ where: { jobId: filename.slice(0, 36), filename }, select: { sha256: true } })
    return row?.sha256 ?? null
  })
  const binary = { type: 'string', format: 'binary' }
  app.get('/outputs/*', {
    schema: {
      summary: 'An output file: {job_id}.{ext}, or {job_id}_{i}.{ext} when the job made several (png, webp, jpg, gif, mp4, webm, flac, mp3, wav, ogg, opus)',
      params: Type.Object({ '*': Type.String() }),
      response: {
        200: Type.Unsafe<NodeJS.ReadableStream>({ description: 'the file', content: Object.fromEntries(Object.values(OUTPUT_CONTENT_TYPES).map(type => [type, { schema: binary }])) }),
        206: Type.Unsafe<NodeJS.ReadableStream>({ description: 'the bytes the Range header asked for', content: { 'application/octet-stream': { schema: binary } } }),
        304: Type.Unsafe<void>({ description: 'the copy the client has (If-None-Match / If-Modified-Since) is current' }),
        403: ErrorBody,
        404: ErrorBody,
        416: Type.Unsafe<void>({ description: 'the Range starts past the end of the file' })
      }
    }
  }, async (request, reply) => {
    const name = request.params['*']
    let decoded: string
    try { decoded = decodeURIComponent(name) } catch { throw new AppError('FORBIDDEN_PATH', { details: 'bad escape in path' }) }
    if (decoded.includes('/') || decoded.includes('\\') || decoded.includes('..') || decoded.includes('\0')) {
      throw new AppError('FORBIDDEN_PATH', { details: 'path traversal refused' })
    }
    if (!OUTPUT_NAME.test(decoded)) throw new AppError('NOT_FOUND', { details: `no output named ${decoded}` })
    // another owner's output is answered as one that does not exist
    const owner = ownerScope(request.caller)
    if (owner !== null && !await app.jobs.visible(decoded.slice(0, 36), owner)) throw new AppError('NOT_FOUND', { details: `no output named ${decoded}` })
    const path = app.outputs.pathOf(decoded)
    const info = await stat(path).catch(() => null)
    if (!info?.isFile()) throw new AppError('NOT_FOUND', { details: `no output named ${decoded}` })
    const etag = `"${await tags.sha256(decoded, path, info)}"`
    const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000)
    reply
      .header('etag', etag)
      .header('last-modified', lastModified.toUTCString())
      .header('cache-control', CACHE_CONTROL)
      .header('accept-ranges', 'bytes')
    const ifNoneMatch = request.headers['if-none-match']
    const ifModifiedSince = Date.parse(request.headers['if-modified-since'] ?? '')
    if (ifNoneMatch !== undefined ? etagMatches(ifNoneMatch, etag) : ifModifiedSince >= lastModified.getTime()) {
      return reply.code(304).send()
    }
    const type = OUTPUT_CONTENT_TYPES[decoded.slice(decoded.lastIndexOf('.') + 1)]
    // If-Range: the range holds only for the version the client already has part of
    const ifRange = request.headers['if-range'] as string | undefined
    const rangeHolds = ifRange === undefined || ifRange === etag || Date.parse(ifRange) >= lastModified.getTime()
    const range = rangeHolds ? parseRange(request.headers.range, info.size) : null
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${info.size}`).send()
    }
    reply.type(type)
    if (range === null) return reply.header('content-length', info.size).send(createReadStream(path))
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${info.size}`)
      .header('content-length', range.end - range.start + 1)
      .send(createReadStream(path, { start: range.start, end: range.end }))
  })
}

export default route
