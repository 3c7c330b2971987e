import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { JobIdParams, JobRecord, NotFoundBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ownerScope } from '../../auth/caller.ts'
import eventsRoute from './events.ts'
import signedUrlsRoute from './signed-urls.ts'

/** A single job: its full record, and its live events. */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/jobs/:job_id', {
    schema: {
      summary: 'A job\'s full record: parameters, timestamps, outputs, attempts, error',
      params: JobIdParams,
      response: { 200: JobRecord, 404: NotFoundBody }
    }
  }, async (request) => {
    const record = await app.jobs.record(request.params.job_id, ownerScope(request.caller))
    if (!record) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: request.params.job_id } })
    return record
  })
  await app.register(eventsRoute)
  await app.register(signedUrlsRoute)
}

export default route
