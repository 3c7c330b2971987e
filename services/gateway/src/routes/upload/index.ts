import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody, UploadResponse } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'

const FIELD = 'file'

/** POST /api/upload: one input image as multipart field `file`, checked and stored by content hash. */
const route: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(multipart, {
    limits: { files: 1, fileSize: app.uploads.maxBytes + 1, fields: 4, parts: 5, fieldSize: 1024 },
    throwFileSizeLimit: true
  })
  app.post('/api/upload', {
    schema: {
      summary: 'Upload an input image (PNG, JPEG or WebP; checked by its bytes)',
      consumes: ['multipart/form-data'],
      body: {
        type: 'object',
        required: [FIELD],
        properties: { [FIELD]: { type: 'string', format: 'binary', description: `the image, at most ${app.uploads.maxBytes} bytes` } }
      },
      response: { 200: UploadResponse, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody }
    },
    // the body is a stream the handler checks part by part; the schema above is its documentation
    validatorCompiler: () => () => true
  }, async (request) => {
    const part = await request.file()
    if (!part || part.fieldname !== FIELD) {
      part?.file.resume()
      const message = `${FIELD} is required: send the image as multipart/form-data field "${FIELD}"`
      throw new AppError('VALIDATION', { details: [{ field: FIELD, message }], extra: { error: `Invalid request: ${message}` } })
    }
    const stored = await app.uploads.save(part.file, FIELD)
    request.log.info({ upload: stored.name, bytes: stored.size, type: stored.type }, 'input image stored')
    return stored
  })
}

export default route
