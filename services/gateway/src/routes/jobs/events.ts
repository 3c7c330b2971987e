import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, EventStreamHeaders, EventStreamQuery, JobIdParams, NotFoundBody, isTerminal } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { JobNotFoundError, watchJob, type WatchItem } from '../../jobs/job-watch.ts'
import { eventView } from '../../jobs/event-view.ts'
import { SSE_KEEP_ALIVE, SSE_RETRY, sseFrame } from './sse-frames.ts'

const STREAM_DESCRIPTION = [
  'Server-Sent Events. First frame `event: snapshot` (data: the status, `id:` the event seq it reflects),',
  'then every event: `event:` processing | progress | finished | failed | cancelled, `id:` the per-job seq,',
  'data: a JobEventData JSON object. Closes after the terminal event. `: keep-alive` comments while idle.',
  'Resume with `Last-Event-ID` (or `?last_event_id=`): only the events after it, no snapshot.'
].join(' ')

function frameOf (item: WatchItem): string {
  if (item.kind === 'snapshot') return sseFrame('snapshot', item.seq, item.status)
  if (item.kind === 'event') return sseFrame(item.fields.type, item.seq, eventView(item.seq, item.fields))
  return SSE_KEEP_ALIVE
}

async function write (res: ServerResponse, chunk: string, signal: AbortSignal): Promise<void> {
  if (!res.write(chunk)) await once(res, 'drain', { signal })
}

/** GET /api/jobs/:job_id/events: a job's live events over SSE, on top of watchJob(). */
const route: FastifyPluginAsyncTypebox = async (app) => {
  const open = new Set<AbortController>()
  // open streams would hold the server open on close; end them first
  app.addHook('preClose', async () => { for (const stream of open) stream.abort() })

  app.get('/api/jobs/:job_id/events', {
    schema: {
      summary: 'Live progress of a job (Server-Sent Events)',
      params: JobIdParams,
      headers: EventStreamHeaders,
      querystring: EventStreamQuery,
      response: {
        200: { description: STREAM_DESCRIPTION, content: { 'text/event-stream': { schema: Type.String() } } },
        204: { description: 'Resumed after the terminal event: nothing more will come (EventSource stops reconnecting)', type: 'null' },
        400: ErrorBody,
        404: NotFoundBody
      }
    }
  }, async (request, reply) => {
    const jobId = request.params.job_id
    const header = request.headers['last-event-id']
    const afterSeq = header !== undefined ? Number(header) : request.query.last_event_id
    const abort = new AbortController()
    const stream = watchJob({ events: app.jobEvents, hub: app.jobEventHub, status: id => app.jobs.status(id) }, jobId, {
      afterSeq, signal: abort.signal, idleMs: app.config.sseKeepAliveMs
    })
    let first: WatchItem | null = null
    if (afterSeq === undefined) {
      // the snapshot comes before any byte is sent, so an unknown job is a plain 404
      const next = await stream.next().catch((err: unknown) => {
        throw err instanceof JobNotFoundError ? new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } }) : err
      })
      first = next.done ? null : next.value
    } else {
      const status = await app.jobs.status(jobId)
      if (!status) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
      if (isTerminal(status.status) && (await app.jobEvents.lastSeq(jobId)) <= afterSeq) return reply.code(204).send(null)
    }

    const log = request.log.child({ job_id: jobId })
    const res = reply.raw
    reply.hijack()
    open.add(abort)
    res.on('close', () => abort.abort())
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no'
    })
    try {
      await write(res, SSE_RETRY, abort.signal)
      if (first) await write(res, frameOf(first), abort.signal)
      for await (const item of stream) await write(res, frameOf(item), abort.signal)
    } catch (err) {
      if (!abort.signal.aborted) {
        log.warn({ err: (err as Error).message }, 'event stream ended by an error')
        res.write(`event: error\ndata: ${JSON.stringify({ error: 'live events unavailable; reconnect to resume', details: (err as Error).message })}\n\n`)
      }
    } finally {
      open.delete(abort)
      abort.abort()
      res.end()
    }
  })
}

export default route
