import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { CANCEL_MESSAGE, ERRORS, ErrorBody, JobIdParams, NotFoundBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ownerScope } from '../../auth/caller.ts'

// The original's shapes: {success, message}, plus our error code where it fails.
const CancelOk = Type.Object({ success: Type.Literal(true), message: Type.String(), job_id: Type.String(), previous_status: Type.String() })
const CancelRefused = Type.Object({ success: Type.Literal(false), message: Type.String(), error: Type.String(), code: Type.String(), job_status: Type.String() })

const route: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/cancel/:job_id', {
    schema: {
      summary: 'Cancel a job: a queued one never runs, a running one is stopped on its worker',
      params: JobIdParams,
      response: { 200: CancelOk, 400: CancelRefused, 404: NotFoundBody, 500: ErrorBody, 503: ErrorBody }
    }
  }, async (request, reply) => {
    try {
      const { job_id: jobId, previous_status: previous } = await app.jobs.cancel(request.params.job_id, ownerScope(request.caller))
      return { success: true as const, message: CANCEL_MESSAGE, job_id: jobId, previous_status: previous }
    } catch (err) {
      if (err instanceof AppError && err.code === 'JOB_NOT_FOUND') {
        const { error, message } = ERRORS.JOB_NOT_FOUND
        return reply.code(404).send({ error, code: 'JOB_NOT_FOUND', job_id: request.params.job_id, message })
      }
      if (err instanceof AppError && err.code === 'JOB_NOT_CANCELLABLE') {
        const body = err.body() as { error: string, job_status: string }
        return reply.code(400).send({ success: false as const, message: body.error, error: body.error, code: err.code, job_status: body.job_status })
      }
      throw err
    }
  })
}

export default route
