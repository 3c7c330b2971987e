import fp from 'fastify-plugin'
import type { FastifyError } from 'fastify'
import { ERRORS, FIELD_RULES } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'

interface ValidationIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

function fieldOf (issue: ValidationIssue): string {
  const path = issue.instancePath.replace(/^\//, '').replace(/\//g, '.')
  const missing = issue.params.missingProperty ?? issue.params.additionalProperty
  return [path, missing].filter(Boolean).join('.') || '(body)'
}

function describe (issue: ValidationIssue, context: string): { field: string, message: string } {
  const field = fieldOf(issue)
  if (issue.keyword === 'additionalProperties') return { field, message: `unknown field ${JSON.stringify(field)} in ${context}` }
  if (issue.keyword === 'required') return { field, message: `${field} is required${FIELD_RULES[field] ? `: ${FIELD_RULES[field]}` : ''}` }
  const rule = FIELD_RULES[field]
  return { field, message: rule ? `${field} must be ${rule}` : `${field} ${issue.message ?? 'is invalid'}` }
}

const CLIENT_ERRORS: Record<string, keyof typeof ERRORS> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'UPLOAD_TOO_LARGE'
}

/** The one error handler: AppErrors from the catalogue, validation as 400 naming the field, the rest 500. */
export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AppError) {
      return reply.code(err.statusCode).headers(err.headers).send(err.body())
    }
    if (err.validation) {
      const issues = (err.validation as ValidationIssue[]).map(i => describe(i, err.validationContext ?? 'request'))
      return reply.code(400).send({
        error: `Invalid request: ${[...new Set(issues.map(i => i.message))].join('; ')}`,
        code: 'VALIDATION',
        details: issues
      })
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
