import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { JobIdParams, NotFoundBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ownerScope } from '../../auth/caller.ts'

/**
 * GET /api/jobs/:job_id/signed-urls: URLs a browser can open without headers — EventSource for the
 * events, <img>/<video> for the outputs — valid for AUTH_URL_TTL_SECONDS. The key stays in the header.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/jobs/:job_id/signed-urls', {
    schema: {
      summary: 'Short-lived signed URLs for the job\'s event stream and outputs (for EventSource, <img>, <video>)',
      params: JobIdParams,
      response: {
        200: Type.Object({ events: Type.String(), outputs: Type.Array(Type.String()), expires_at: Type.String() }),
        404: NotFoundBody
      }
    }
  }, async (request) => {
    const jobId = request.params.job_id
    const record = await app.jobs.record(jobId, ownerScope(request.caller))
    if (!record) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
    const now = Date.now()
    const events = app.auth.signer.sign(`/api/jobs/${jobId}/events`, now)
    const outputs = record.outputs.map(o => app.auth.signer.sign(new URL(o.url, 'http://x').pathname, now).url)
    return { events: events.url, outputs, expires_at: events.expiresAt.toISOString() }
  })
}

export default route
