import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody, UploadResponse } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { perMinuteLimit } from '../../limits/route-rate-limit.ts'
import { fieldProblem } from '../../validation-errors.ts'
import { MediaRefusal } from '../../uploads/media-inspector.ts'

const FIELD = 'file'

/** A refused upload as the catalogue says it: wrong type 415, too many bytes 413, the rest 400 naming the field. */
function refused (err: MediaRefusal): AppError {
  if (err.reason === 'type') return new AppError('UNSUPPORTED_UPLOAD_TYPE', { details: `${FIELD} ${err.message}` })
  if (err.reason === 'too-large') return new AppError('UPLOAD_TOO_LARGE', { details: `${FIELD} ${err.message}` })
  return fieldProblem(FIELD, `${FIELD} ${err.message}`)
}

/** POST /api/upload: one input file (image or sound) as multipart field `file`, checked and stored by content hash. */
const route: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(multipart, {
    limits: { files: 1, fileSize: app.uploads.maxBytes + 1, fields: 4, parts: 5, fieldSize: 1024 },
    throwFileSizeLimit: true
  })
  const perMinute = app.config.uploadRateLimitPerMinute
  app.post('/api/upload', {
    config: perMinuteLimit(perMinute, 'TOO_MANY_UPLOADS', 'uploads', 'UPLOAD_RATE_LIMIT_PER_MINUTE'),
    schema: {
      summary: 'Upload an input file: a PNG, JPEG or WebP image, or a WAV, MP3, FLAC or Ogg sound (checked by its bytes)',
      consumes: ['multipart/form-data'],
      body: {
        type: 'object',
        required: [FIELD],
        properties: { [FIELD]: { type: 'string', format: 'binary', description: `the file, at most ${app.uploads.maxBytes} bytes; an image at most ${app.uploads.limits.maxPixels} pixels` } }
      },
      response: { 200: UploadResponse, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody }
    },
    // the body is a stream the handler checks part by part; the schema above is its documentation
    validatorCompiler: () => () => true
  }, async (request) => {
    const part = await request.file()
    if (!part || part.fieldname !== FIELD) {
      part?.file.resume()
      throw fieldProblem(FIELD, `${FIELD} is required: send the file as multipart/form-data field "${FIELD}"`)
    }
    let stored
    try {
      const owner = request.caller.owner
      stored = await app.uploads.save(part.file, (name, size) => app.uploadQuota.charge(owner, name, size))
    } catch (err) {
      throw err instanceof MediaRefusal ? refused(err) : err
    }
    request.log.info({ upload: stored.name, bytes: stored.size, type: stored.type }, 'input file stored')
    const { name, size, type, kind, width, height } = stored
    return { name, size, type, kind, ...(width !== undefined ? { width, height } : {}), filename: name, original_name: part.filename ?? '' }
  })
}

export default route
