import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ownerScope } from '../../auth/caller.ts'
import { ERRORS, ErrorBody, JobIdParams, NotFoundBody, StatusResponse } from '@comfy-jobs/contracts'

const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/status/:job_id', {
    schema: { params: JobIdParams, response: { 200: StatusResponse, 404: NotFoundBody, 503: ErrorBody } }
  }, async (request, reply) => {
    const status = await app.jobs.status(request.params.job_id, ownerScope(request.caller))
    if (status) return status
    const { error, message, status: code } = ERRORS.JOB_NOT_FOUND
    return reply.code(code).send({ error, code: 'JOB_NOT_FOUND', job_id: request.params.job_id, message })
  })
}

export default route
