import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { ERRORS } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { invalidRequest, type ValidationIssue } from '../validation-errors.ts'

const CLIENT_ERRORS: Record<string, keyof typeof ERRORS> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'UPLOAD_TOO_LARGE'
}

function causeText (cause: unknown): string {
  const e = cause as Error & { cause?: unknown }
  const inner = e?.cause instanceof Error ? `: ${e.cause.message}` : ''
  return `${e?.message ?? String(cause)}${inner}`
}

/** The one error handler: AppErrors from the catalogue, validation as 400 naming the field, the rest 500. */
export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      // the driver's words (ioredis, mariadb) go to the log; the body carries the catalogue's
      if (err.cause !== undefined && err.statusCode >= 500) request.log.warn({ code: err.code, cause: causeText(err.cause) }, 'request failed')
      return reply.code(err.statusCode).headers(err.headers).send(err.body())
    }
    if (err.validation) {
      const e = invalidRequest(err.validation as ValidationIssue[], err.validationContext ?? 'request')
      return reply.code(e.statusCode).send(e.body())
    }
    const mapped = err.code ? CLIENT_ERRORS[err.code] : undefined
    if (mapped) {
      const e = new AppError(mapped, { details: err.message })
      return reply.code(e.statusCode).send(e.body())
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: `Invalid request: ${err.message}`, code: 'VALIDATION' })
    }
    request.log.error({ err }, 'unhandled error')
    return reply.code(500).send(new AppError('INTERNAL').body())
  })
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ ...new AppError('NOT_FOUND').body(), path: request.url.split('?')[0] })
  })
}, { name: 'error-handler' })
