import { once } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ErrorBody, EventStreamHeaders, EventStreamQuery, JobIdParams, NotFoundBody } from '@comfy-jobs/contracts'
import { AppError } from '../../app-error.ts'
import { ownerScope } from '../../auth/caller.ts'
import { JobNotFoundError, watchJob, type WatchItem } from '../../jobs/job-watch.ts'
import { EventsUnavailableError } from '../../jobs/job-event-log.ts'
import { formatEventId, parseEventId } from '../../jobs/event-position.ts'
import { eventView } from '../../jobs/event-view.ts'
import { SSE_KEEP_ALIVE, SSE_RETRY, sseFrame } from './sse-frames.ts'

const STREAM_DESCRIPTION = [
  'Server-Sent Events. First frame `event: snapshot` (data: the status, `id:` the place in the job\'s event history it reflects),',
  'then every event: `event:` queued | processing | progress | finished | failed | cancelled, `id:` `<epoch>.<seq>`',
  '(seq counts the job\'s events; epoch names the history, which begins again if Redis loses it),',
  'data: a JobEventData JSON object. Closes after the terminal event. `: keep-alive` comments while idle.',
  'Resume with `Last-Event-ID` (or `?last_event_id=`): only the events after it, no snapshot; when the history',
  'no longer holds that id, a fresh snapshot and every later event. A bare `<seq>` is an id from before epochs.'
].join(' ')

function frameOf (item: WatchItem): string {
  if (item.kind === 'snapshot') return sseFrame('snapshot', formatEventId(item.at), item.status)
  if (item.kind === 'event') return sseFrame(item.fields.type, formatEventId(item.at), eventView(item.at, item.fields))
  if (item.kind === 'resumed') return ''
  return SSE_KEEP_ALIVE
}

/** The errors a watch can end with before any byte is sent, as answers. */
function beforeStream (err: unknown, jobId: string): unknown {
  if (err instanceof JobNotFoundError) return new AppError('JOB_NOT_FOUND', { extra: { job_id: jobId } })
  if (err instanceof EventsUnavailableError) return new AppError('EVENTS_UNAVAILABLE', { headers: { 'retry-after': '1' }, details: 'the job\'s event history (Redis) cannot be read', cause: err })
  return err
}

async function write (res: ServerResponse, chunk: string, signal: AbortSignal): Promise<void> {
  if (chunk !== '' && !res.write(chunk)) await once(res, 'drain', { signal })
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
        204: { description: 'Resumed at the terminal event: nothing more will come (EventSource stops reconnecting)', type: 'null' },
        400: ErrorBody,
        404: NotFoundBody,
        503: ErrorBody
      }
    }
  }, async (request, reply) => {
    const jobId = request.params.job_id
    const id = request.headers['last-event-id'] ?? request.query.last_event_id
    const after = id !== undefined ? parseEventId(id) ?? undefined : undefined // the schema checked its form
    const abort = new AbortController()
    const owner = ownerScope(request.caller)
    const deps = owner === null ? app.jobWatch : { ...app.jobWatch, status: (id: string) => app.jobs.status(id, owner) }
    const stream = watchJob(deps, jobId, { after, signal: abort.signal, idleMs: app.config.sseKeepAliveMs })
    // The first item (the snapshot, or word that the resume is honoured) comes before any byte is sent:
    // an unknown job is a plain 404, an unreadable history a 503, and a resume at the end a 204.
    const next = await stream.next().catch((err: unknown) => { throw beforeStream(err, jobId) })
    if (next.done) return reply.code(204).send(null)
    const first = next.value

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
      await write(res, frameOf(first), abort.signal)
      for await (const item of stream) await write(res, frameOf(item), abort.signal)
    } catch (err) {
      if (!abort.signal.aborted) {
        log.warn({ err: (err as Error).message }, 'event stream ended by an error')
        res.write(`event: error\ndata: ${JSON.stringify({ error: 'live events unavailable; reconnect to resume' })}\n\n`)
      }
    } finally {
      open.delete(abort)
      abort.abort()
      res.end()
    }
  })
}

export default route
