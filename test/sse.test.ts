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
  const watcher = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(watcherPort), GATEWAY_GRPC_PORT: '0', WORKER_ADDRESSES: `127.0.0.1:${await freePort()}`, WORKER_DISCOVERY: 'false' }))
  t.teardown(() => watcher.kill('SIGKILL'))
  await Promise.all([watcher.waitForLog(l => l.msg === 'gateway ready', 120_000), sys.waitForWorkersConnected()])
  const watcherUrl = `http://127.0.0.1:${watcherPort}`
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())

  /** The job's stored history as [seq, type] pairs, the truth the streams are checked against, and its epoch. */
  async function history (id: string): Promise<Array<[number, string]> & { epoch: string }> {
    const entries = await redis.xrange(`job:events:${id}`, '-', '+')
    const epochs = new Set(entries.map(([entryId]) => entryId.split('-')[1]))
    if (epochs.size !== 1) throw new Error(`one history expected, epochs: ${[...epochs].join(', ')}`)
    const pairs = entries.map(([entryId, kv]) => [Number(entryId.split('-')[0]), kv[kv.indexOf('type') + 1]] as [number, string])
    return Object.assign(pairs, { epoch: [...epochs][0] })
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
    for (const bad of ['abc', '1.2.3', '.5', '5.']) {
      const res = await openEvents(sys.baseUrl, body.job_id, { lastEventId: bad })
      t.equal(res.status, 400, `${bad}: 400`)
      t.match(res.body.error, /last-event-id/)
    }
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
    const expected = stored.filter(([seq]) => seq > snapshot.seq)
    t.same(events.map(e => [e.seq, e.event]), expected, `every event after the snapshot's seq ${snapshot.seq}, once, in order`)
    t.ok(events.every(e => e.id === `${stored.epoch}.${e.data.seq}` && e.data.epoch === stored.epoch), 'id: is `<epoch>.<seq>` of the job\'s history, both also in the data')
    t.match(stored.epoch, /^[1-9]\d{15}$/, 'the epoch is a clock reading in microseconds')
    t.equal(events.at(-1)!.event, 'finished', 'the last event is the terminal one')
    t.equal(events.at(-1)!.data.image_url, `/outputs/${id}.png`)
    t.same(events.filter(e => e.event === 'progress').map(e => e.data.step), [1, 2, 3, 4, 5, 6], 'progress step by step')
    t.ok(events.filter(e => e.event === 'progress').every(e => e.data.total_steps === 6 && e.data.node), 'with total steps and the current node')
    t.same(nearRead.messages.slice(1).map(e => e.seq), stored.filter(([seq]) => seq > nearRead.messages[0].seq).map(([seq]) => seq), 'the ingesting gateway says the same')
  })

  t.test('resuming with Last-Event-ID mid-job loses and repeats nothing', async t => {
    const { body } = await sys.submit({ prompt: 'interrupted watcher' })
    const id = body.job_id
    const first = await openEvents(watcherUrl, id)
    const part1 = await readMessages(first, m => m.event === 'progress' && m.data.step === 2)
    first.close()
    t.notOk(part1.ended, 'the first connection is dropped mid-job')
    await sleep(450) // events keep coming while nobody listens
    const lastSeen = part1.messages.at(-1)!
    const second = await openEvents(watcherUrl, id, { lastEventId: lastSeen.id })
    t.equal(second.status, 200)
    const part2 = await readMessages(second)
    t.ok(part2.ended)
    t.notOk(part2.messages.some(m => m.event === 'snapshot'), 'a resumed stream has no snapshot')
    t.ok(part2.messages[0].seq === lastSeen.seq + 1, `it starts right after ${lastSeen.id}`)
    const seen = [...part1.messages.slice(1), ...part2.messages].map(m => m.seq)
    const stored = (await history(id)).map(([seq]) => seq).filter(seq => seq > part1.messages[0].seq)
    t.same(seen, stored, 'the two connections together carry every event exactly once')
    t.equal(part2.messages.at(-1)!.event, 'finished')

    const polyfill = await openEvents(watcherUrl, id, { query: `?last_event_id=${part2.messages[0].epoch}.2` })
    const tail = await readMessages(polyfill)
    t.same(tail.messages.map(m => m.seq), stored.filter(seq => seq > 2), '?last_event_id= resumes the same way')
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
    t.ok(ms < 15_000, `at once, not at a keep-alive or a timeout (${ms.toFixed(0)} ms)`)
    t.equal(messages.length, 1, 'only the snapshot')
    t.equal(messages[0].event, 'snapshot')
    t.equal(messages[0].data.status, 'finished')
    t.equal(messages[0].id, `${stored.epoch}.${stored.at(-1)![0]}`, 'its id is the last event\'s')
    const again = await openEvents(watcherUrl, id, { lastEventId: messages[0].id })
    t.equal(again.status, 204, 'resuming after the end: 204, which tells EventSource to stop reconnecting')
    const beforeEnd = await openEvents(watcherUrl, id, { lastEventId: `${stored.epoch}.${stored.at(-2)![0]}` })
    const rest = await readMessages(beforeEnd)
    t.same(rest.messages.map(m => m.event), ['finished'], 'resuming just before the end: the terminal event')
  })

  t.test('an id from before epochs (a bare seq) resumes a history written then exactly, and any other with a snapshot', async t => {
    const { body } = await sys.submit({ prompt: 'legacy ids' })
    const id = body.job_id
    await sys.waitForStatus(id, s => s.status === 'finished')
    const stored = await history(id)
    const bare = await readMessages(await openEvents(watcherUrl, id, { lastEventId: '2' }))
    t.same(bare.messages.map(m => [m.event, m.data.status]), [['snapshot', 'finished']], 'against a history with an epoch, a bare seq is another history\'s: the terminal snapshot')

    // the history as the code before epochs wrote it: entry ids `<seq>-0`
    const key = `job:events:${id}`
    const entries = await redis.xrange(key, '-', '+')
    await redis.del(key)
    for (const [entryId, kv] of entries) await redis.xadd(key, `${entryId.split('-')[0]}-0`, ...kv)
    const legacy = await readMessages(await openEvents(watcherUrl, id, { lastEventId: '2' }))
    t.same(legacy.messages.map(m => m.seq), stored.map(([seq]) => seq).filter(seq => seq > 2), 'a bare seq resumes a legacy history exactly')
    t.ok(legacy.messages.every(m => m.epoch === '0'), 'whose epoch is 0')
    t.equal((await openEvents(watcherUrl, id, { lastEventId: String(stored.at(-1)![0]) })).status, 204, 'and a bare seq at its end: 204')
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
