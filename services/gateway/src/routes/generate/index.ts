import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorBody, GenerateAccepted, GenerateBody, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'

const route: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/generate', {
    schema: {
      body: GenerateBody,
      response: { 200: GenerateAccepted, 400: ErrorBody, 413: ErrorBody, 415: ErrorBody, 500: ErrorBody, 503: ErrorBody }
    }
  }, async (request) => {
    const { job_id: jobId } = await app.jobs.submit(request.body)
    return { job_id: jobId, status: 'queued' as const, message: SUBMIT_MESSAGE }
  })
}

export default route
