import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, GenerateAccepted, GenerateBody, JobRecord, StatusResponse, SUBMIT_MESSAGE } from '@comfy-jobs/contracts'
import { preferredWait } from '../../prefer-wait.ts'
import { waitForEnd } from '../../jobs/job-wait.ts'

const WAIT_DESCRIPTION = 'With `Prefer: wait[=N]` (N ≤ 60 s, `wait` alone is 60): 200 with the job\'s terminal record and ' +
  '`Preference-Applied` if it ends within N s, else 202 with its current status and `Location` to poll.'

const route: FastifyPluginAsyncTypebox = async (app) => {
  const perMinute = app.config.submitRateLimitPerMinute
  const waiting = new Set<AbortController>()
  // a waiting submit would hold the server open on close: it answers where the job is now instead
  app.addHook('preClose', async () => { for (const wait of waiting) wait.abort() })

  app.post('/api/generate', {
    config: perMinute > 0 ? { rateLimit: { max: perMinute, timeWindow: '1 minute' } } : {},
    // input files may come inline (data: URLs, GENERATE_BODY_LIMIT_BYTES), and a raw graph may be larger
    // than the other bodies; its own limit (RAW_GRAPH_MAX_BYTES) is checked by the job service
    bodyLimit: app.config.generateBodyLimitBytes + (app.config.allowRawGraphs ? app.config.rawGraphMaxBytes : 0),
    schema: {
      description: WAIT_DESCRIPTION,
      body: GenerateBody,
      headers: Type.Object({
        'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' })),
        prefer: Type.Optional(Type.String({ maxLength: 200 }))
      }),
      response: {
        200: Type.Union([GenerateAccepted, JobRecord]),
        202: Type.Union([StatusResponse, GenerateAccepted]),
        400: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 500: ErrorBody, 503: ErrorBody
      }
    }
  }, async (request, reply) => {
    const wait = preferredWait(request.headers.prefer)
    const { job_id: jobId, replayed } = await app.jobs.submit(request.body, { owner: request.caller.owner, idempotencyKey: request.headers['idempotency-key'] })
    if (replayed) reply.header('idempotent-replayed', 'true')
    const accepted = { job_id: jobId, status: 'queued' as const, message: SUBMIT_MESSAGE }
    if (wait === undefined) return accepted

    const abort = new AbortController()
    waiting.add(abort)
    reply.raw.once('close', () => abort.abort()) // the caller left: stop waiting
    try {
      const outcome = await waitForEnd({ watch: app.jobWatch, record: id => app.jobs.record(id, request.caller.owner), status: id => app.jobs.status(id, request.caller.owner) }, jobId, wait * 1000, abort.signal)
      if (outcome.ended) return reply.header('preference-applied', `wait=${wait}`).send(outcome.record)
      return reply.code(202).header('location', `/api/status/${jobId}`).send(outcome.status ?? accepted)
    } finally {
      waiting.delete(abort)
    }
  })
}

export default route
