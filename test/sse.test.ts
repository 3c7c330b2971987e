// GET /api/jobs/:id/events: a snapshot, then every event exactly once, across reconnects and across
// gateways (one ingests the worker's stream, the other only watches Redis).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { ServiceProcess } from './helpers/service-process.ts'
import { freePort } from './helpers/ports.ts'
import { openEvents, readMessages } from './helpers/sse.ts'

const TERMINAL = new Set(['finished', 'failed', 'cancelled'])

t.test('live job events over SSE', async t => {
  const sys = await TestSystem.start(t, {
    name: 'sse',
    workers: 1,
    workerEnv: { BUILTIN_STEPS: '6', BUILTIN_STEP_MS: '200' },
    gatewayEnv: { SSE_KEEPALIVE_MS: '250' }
  })
  // a second gateway on the same database and queue that ingests nothing (its worker address is dead)
  const watcherPort = await freePort()
  const watcher = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(watcherPort), GATEWAY_GRPC_PORT: '0', WORKER_ADDRESSES: `127.0.0.1:${await freePort()}` }))
  t.teardown(() => watcher.kill('SIGKILL'))
  await Promise.all([watcher.waitForLog(l => l.msg === 'gateway ready', 30_000), sys.waitForWorkersConnected()])
  const watcherUrl = `http://127.0.0.1:${watcherPort}`
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())

  /** The job's stored history as [seq, type] pairs, the truth the streams are checked against. */
  async function history (id: string): Promise<Array<[number, string]>> {
    const entries = await redis.xrange(`job:events:${id}`, '-', '+')
    return entries.map(([entryId, kv]) => [Number(entryId.split('-')[0]), kv[kv.indexOf('type') + 1]])
  }

  t.test('an unknown job is a 404 JSON answer, not a hanging stream', async t => {
    for (const id of ['01900000-0000-7000-8000-000000000000', 'not-a-job']) {
      const res = await openEvents(sys.baseUrl, id)
      t.equal(res.status, 404, `${id}: 404`)
      t.match(res.headers.get('content-type'), /application\/json/)
      t.same(res.body, { error: 'Job not found', code: 'JOB_NOT_FOUND', job_id: id, message: '任務不存在或已被刪除' })
    }
    const resumed = await openEvents(sys.baseUrl, '01900000-0000-7000-8000-000000000000', { lastEventId: '3' })
    t.equal(resumed.status, 404, 'resuming an unknown job: 404 as well')
  })

  t.test('a malformed Last-Event-ID is a 400 naming it', async t => {
    const { body } = await sys.submit({ prompt: 'bad resume' })
    const res = await openEvents(sys.baseUrl, body.job_id, { lastEventId: 'abc' })
    t.equal(res.status, 400)
    t.match(res.body.error, /last-event-id/)
    await sys.waitForStatus(body.job_id, s => TERMINAL.has(s.status))
  })

  t.test('a watcher on the gateway that does not ingest sees every event, in order', async t => {
    const { body } = await sys.submit({ prompt: 'watched from afar', seed: 5 })
    const id = body.job_id
    const [far, near] = await Promise.all([openEvents(watcherUrl, id), openEvents(sys.baseUrl, id)])
    t.equal(far.status, 200)
    t.match(far.headers.get('content-type'), /^text\/event-stream/)
    const [farRead, nearRead] = await Promise.all([readMessages(far), readMessages(near)])
    t.ok(farRead.ended && nearRead.ended, 'both streams close by themselves after the terminal event')

    const [snapshot, ...events] = farRead.messages
    t.equal(snapshot.event, 'snapshot', 'the first frame is the snapshot')
    t.equal(snapshot.data.job_id, id)
    const stored = await history(id)
    const expected = stored.filter(([seq]) => seq > snapshot.id)
    t.same(events.map(e => [e.id, e.event]), expected, `every event after the snapshot's seq ${snapshot.id}, once, in order`)
    t.same(events.map(e => e.data.seq), events.map(e => e.id), 'id: is the per-job seq, also in the data')
    t.equal(events.at(-1)!.event, 'finished', 'the last event is the terminal one')
    t.equal(events.at(-1)!.data.image_url, `/outputs/${id}.png`)
    t.same(events.filter(e => e.event === 'progress').map(e => e.data.step), [1, 2, 3, 4, 5, 6], 'progress step by step')
    t.ok(events.filter(e => e.event === 'progress').every(e => e.data.total_steps === 6 && e.data.node), 'with total steps and the current node')
    t.same(nearRead.messages.slice(1).map(e => e.id), stored.filter(([seq]) => seq > nearRead.messages[0].id).map(([seq]) => seq), 'the ingesting gateway says the same')
  })

  t.test('resuming with Last-Event-ID mid-job loses and repeats nothing', async t => {
    const { body } = await sys.submit({ prompt: 'interrupted watcher' })
    const id = body.job_id
    const first = await openEvents(watcherUrl, id)
    const part1 = await readMessages(first, m => m.event === 'progress' && m.data.step === 2)
    first.close()
    t.notOk(part1.ended, 'the first connection is dropped mid-job')
    await sleep(450) // events keep coming while nobody listens
    const lastSeen = part1.messages.at(-1)!.id
    const second = await openEvents(watcherUrl, id, { lastEventId: String(lastSeen) })
    t.equal(second.status, 200)
    const part2 = await readMessages(second)
    t.ok(part2.ended)
    t.notOk(part2.messages.some(m => m.event === 'snapshot'), 'a resumed stream has no snapshot')
    t.ok(part2.messages[0].id === lastSeen + 1, `it starts right after ${lastSeen}`)
    const seen = [...part1.messages.slice(1), ...part2.messages].map(m => m.id)
    const stored = (await history(id)).map(([seq]) => seq).filter(seq => seq > part1.messages[0].id)
    t.same(seen, stored, 'the two connections together carry every event exactly once')
    t.equal(part2.messages.at(-1)!.event, 'finished')

    const polyfill = await openEvents(watcherUrl, id, { query: '?last_event_id=2' })
    const tail = await readMessages(polyfill)
    t.same(tail.messages.map(m => m.id), stored.filter(seq => seq > 2), '?last_event_id= resumes the same way')
  })

  t.test('a job already terminal gets its snapshot and the stream closes at once', async t => {
    const { body } = await sys.submit({ prompt: 'done already' })
    const id = body.job_id
    await sys.waitForStatus(id, s => s.status === 'finished')
    const stored = await history(id)
    const t0 = performance.now()
    const stream = await openEvents(watcherUrl, id)
    const { messages, ended } = await readMessages(stream)
    const ms = performance.now() - t0
    t.ok(ended, 'closed by the server')
    t.ok(ms < 1000, `within ${ms.toFixed(0)} ms`)
    t.equal(messages.length, 1, 'only the snapshot')
    t.equal(messages[0].event, 'snapshot')
    t.equal(messages[0].data.status, 'finished')
    t.equal(messages[0].id, stored.at(-1)![0], 'its id is the last event\'s seq')
    const again = await openEvents(watcherUrl, id, { lastEventId: String(messages[0].id) })
    t.equal(again.status, 204, 'resuming after the end: 204, which tells EventSource to stop reconnecting')
  })

  t.test('an idle stream gets keep-alive comments', async t => {
    const busy = await sys.submit({ prompt: 'keeps the worker busy' })
    const waiting = await sys.submit({ prompt: 'waits its turn' })
    const stream = await openEvents(watcherUrl, waiting.body.job_id)
    const read = await readMessages(stream, m => m.event === 'processing')
    t.equal(read.messages[0].data.status, 'queued', 'the job was queued behind the other one')
    t.ok(read.comments.filter(c => c === 'keep-alive').length >= 2, `${read.comments.length} keep-alive comments while it waited`)
    stream.close()
    await sys.waitForStatus(waiting.body.job_id, s => TERMINAL.has(s.status))
    await sys.waitForStatus(busy.body.job_id, s => TERMINAL.has(s.status))
  })
})
