// The gateway's gRPC JobService, driven by a real grpc-js client against a running system: the same
// contract as REST (submit, status, validation), WatchJob with gap-free seqs and resume, deadlines,
// the health service and server reflection.
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { Redis } from 'ioredis'
import { JOBS_SERVICE_NAME, checkHealth, type JobState, type WatchJobResponse } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { ReflectionClient } from './helpers/grpc-reflection.ts'

const STEPS = 6
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const sys = await TestSystem.start(t, { name: 'grpcapi', workers: 1, workerEnv: { BUILTIN_STEPS: String(STEPS), BUILTIN_STEP_MS: '120' } })
await sys.waitForWorkersConnected()
const jobs = new JobsGrpc(sys.grpcAddress)
t.teardown(() => jobs.close())
const redis = new Redis(sys.redisUrl)
t.teardown(() => redis.disconnect())

const seqs = (messages: WatchJobResponse[]) => messages.map(m => m.seq)
const range = (from: number, n: number) => Array.from({ length: n }, (_v, i) => from + i)
const rowCount = async () => Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs')) as any)[0][0].n)

/** A gRPC JobState in REST's words: enum names to status strings, Timestamps to ISO text. */
function asRest (s: JobState): Record<string, unknown> {
  const iso = (ts: { seconds: number, nanos: number } | null) => ts ? new Date(ts.seconds * 1000 + ts.nanos / 1e6).toISOString() : undefined
  return {
    job_id: s.job_id,
    status: s.status.replace('JOB_STATUS_', '').toLowerCase(),
    progress: s.progress,
    image_url: s.image_url,
    error: s.error,
    source: s.source.replace('STATUS_SOURCE_', '').toLowerCase(),
    step: s.step,
    total_steps: s.total_steps,
    node: s.node,
    outputs: s.outputs.length > 0 ? s.outputs : undefined,
    created_at: iso(s.created_at),
    started_at: iso(s.started_at),
    finished_at: iso(s.finished_at),
    updated_at: iso(s.updated_at)
  }
}
/** Leaves out what is unset: REST says null or omits the field, protobuf leaves it unset. */
const present = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined))

let finishedId = ''

t.test('Submit, then WatchJob to finished: every progress event, in order, seq without gaps', async t => {
  const submitted = await jobs.call('Submit', { prompt: 'a red cat', seed: 42 })
  t.match(submitted.job_id, UUID, 'a job id')
  t.equal(submitted.status, 'JOB_STATUS_QUEUED')
  t.equal(submitted.message, '任務已成功提交', 'the REST message')
  const id = finishedId = submitted.job_id

  const live = await jobs.watch({ job_id: id })
  t.equal(live.status.code, grpc.status.OK, 'the stream ends OK after the terminal event')
  const [first, ...events] = live.messages
  t.equal(first.update, 'snapshot', 'a snapshot first')
  t.equal(first.snapshot!.job_id, id)
  t.same(seqs(events), range(first.seq + 1, events.length), `then events seq ${first.seq + 1}..${first.seq + events.length}, no gap`)
  const last = events.at(-1)!.event!
  t.equal(last.type, 'JOB_EVENT_TYPE_FINISHED', 'the last event is the terminal one')
  t.equal(last.status, 'JOB_STATUS_FINISHED')
  t.equal(last.progress, 100)
  t.equal(last.image_url, `/outputs/${id}.png`)
  t.match(last.outputs, [{ index: 0, url: `/outputs/${id}.png`, mime: 'image/png', width: 1024, height: 1024 }])

  const all = await jobs.watch({ job_id: id, after_seq: 0 })
  t.equal(all.status.code, grpc.status.OK)
  t.notOk(all.messages.some(m => m.update === 'snapshot'), 'from a seq: no snapshot')
  t.same(seqs(all.messages), range(1, all.messages.length), 'the whole history is seq 1..n')
  const types = all.messages.map(m => m.event!.type)
  t.same(types, ['JOB_EVENT_TYPE_PROCESSING', ...Array(STEPS).fill('JOB_EVENT_TYPE_PROGRESS'), 'JOB_EVENT_TYPE_FINISHED'], 'processing, every step, finished')
  const progress = all.messages.filter(m => m.event!.type === 'JOB_EVENT_TYPE_PROGRESS').map(m => m.event!)
  t.same(progress.map(e => e.step), range(1, STEPS), 'every step, in order')
  t.same(progress.map(e => e.progress), range(1, STEPS).map(s => Math.floor(s * 100 / STEPS)), 'progress rises with each step')
  t.ok(progress.every(e => e.total_steps === STEPS && e.status === 'JOB_STATUS_PROCESSING' && e.at !== null), 'each says total steps, status and time')
  t.same(events, all.messages.slice(first.seq), 'the live watch saw exactly the events after its snapshot')
})

t.test('a watch resumed from a sequence number repeats what follows it and loses nothing', async t => {
  const { job_id: id } = await jobs.call('Submit', { prompt: 'resume me' })
  const cut = await jobs.watch({ job_id: id, after_seq: 0 }, { stopWhen: m => m.seq === 3 })
  t.equal(cut.status.code, grpc.status.CANCELLED, 'the first watch is dropped mid-job')
  t.same(seqs(cut.messages), [1, 2, 3])
  const resumed = await jobs.watch({ job_id: id, after_seq: 2, epoch: cut.messages[1].epoch })
  t.equal(resumed.status.code, grpc.status.OK)
  t.same(resumed.messages[0], cut.messages[2], 'resuming after seq 2 repeats seq 3 as it was')
  const joined = [...cut.messages.slice(0, 2), ...resumed.messages]
  t.same(seqs(joined), range(1, STEPS + 2), `together: seq 1..${STEPS + 2}, nothing lost or doubled`)
  t.equal(joined.at(-1)!.event!.type, 'JOB_EVENT_TYPE_FINISHED')
  const whole = await jobs.watch({ job_id: id, after_seq: 0 })
  t.same(joined, whole.messages, 'the same events as a watch that never broke')
  t.ok(whole.messages.every(m => /^[1-9]\d{15}$/.test(m.epoch) && m.epoch === whole.messages[0].epoch), 'each message names the one history it counts in')
})

t.test('after_seq beyond a live job\'s history, or without the epoch of a history that has one: a snapshot, then every event to the end', async t => {
  const { job_id: id } = await jobs.call('Submit', { prompt: 'resume me from nowhere' })
  const beyond = jobs.watch({ job_id: id, after_seq: 1000 })
  await jobs.watch({ job_id: id }, { stopWhen: m => m.update === 'event' }) // the job is running
  const bare = jobs.watch({ job_id: id, after_seq: 1 })
  for (const [name, watched] of [['after_seq=1000', await beyond], ['after_seq=1 without an epoch (a client from before epochs)', await bare]] as const) {
    const { messages, status } = watched
    t.equal(status.code, grpc.status.OK, `${name}: ends OK when the job ends`)
    t.equal(messages[0].update, 'snapshot', `${name}: starts with a snapshot`)
    t.same(seqs(messages.slice(1)), range(messages[0].seq + 1, messages.length - 1), `${name}: then every event after it, no gap`)
    const end = messages.at(-1)!
    t.ok(end.event?.type === 'JOB_EVENT_TYPE_FINISHED' || end.snapshot?.status === 'JOB_STATUS_FINISHED', `${name}: and ends with the job's end`)
  }
})

t.test('a watch on a job that has already ended yields its snapshot and ends', async t => {
  const res = await jobs.watch({ job_id: finishedId })
  t.equal(res.status.code, grpc.status.OK)
  t.equal(res.messages.length, 1, 'one message')
  t.equal(res.messages[0].update, 'snapshot')
  t.equal(res.messages[0].snapshot!.status, 'JOB_STATUS_FINISHED')
  t.equal(res.messages[0].seq, STEPS + 2, 'carrying the seq of the last event')
  const after = await jobs.watch({ job_id: finishedId, after_seq: STEPS + 2, epoch: res.messages[0].epoch })
  t.same([after.status.code, after.messages.length], [grpc.status.OK, 0], 'resuming after its last event: nothing, and the stream ends')
  const before = await jobs.watch({ job_id: finishedId, after_seq: STEPS + 1, epoch: res.messages[0].epoch })
  t.same(before.messages.map(m => m.event?.type), ['JOB_EVENT_TYPE_FINISHED'], 'resuming just before it: the terminal event')
})

t.test('GetStatus is the REST status record, from Redis and, without the key, from the database', async t => {
  const rest = (await sys.status(finishedId)).body
  const viaGrpc = await jobs.call('GetStatus', { job_id: finishedId })
  t.equal(viaGrpc.source, 'STATUS_SOURCE_REDIS')
  t.same(present(asRest(viaGrpc)), present(rest), 'from Redis: the same record as REST, field by field')
  t.ok(Object.keys(present(rest)).length >= 12, `and a full one (${Object.keys(present(rest)).join(', ')})`)

  t.equal(await redis.del(`job:status:${finishedId}`), 1, 'the status key is deleted')
  const fromDb = await jobs.call('GetStatus', { job_id: finishedId })
  t.equal(fromDb.source, 'STATUS_SOURCE_DATABASE', 'GetStatus now answers from the database')
  t.equal(fromDb.status, 'JOB_STATUS_FINISHED')
  t.equal(fromDb.image_url, `/outputs/${finishedId}.png`)
  const restDb = (await sys.status(finishedId)).body
  t.equal(restDb.source, 'database')
  t.same(present(asRest(fromDb)), present(restDb), 'from the database: the same record as REST, field by field')
})

t.test('unknown jobs are NOT_FOUND; a missing job_id is INVALID_ARGUMENT', async t => {
  const unknown = '0190d6e8-0000-7000-8000-000000000000'
  for (const method of ['GetStatus', 'CancelJob'] as const) {
    const err = await jobs.fails(method, { job_id: unknown })
    t.equal(err.code, grpc.status.NOT_FOUND, `${method} of an unknown job → NOT_FOUND`)
    t.match(err.details, /Job not found/)
    t.same(err.metadata.get('app-error-code'), ['JOB_NOT_FOUND'], 'the catalogue code travels in the trailer')
  }
  t.equal((await jobs.fails('GetStatus', { job_id: 'not-a-job' })).code, grpc.status.NOT_FOUND, 'a malformed id is just not found, as in REST')
  const watched = await jobs.watch({ job_id: unknown })
  t.same([watched.status.code, watched.messages.length], [grpc.status.NOT_FOUND, 0], 'WatchJob of an unknown job → NOT_FOUND')
  const empty = await jobs.fails('GetStatus', { job_id: '' })
  t.equal(empty.code, grpc.status.INVALID_ARGUMENT)
  t.match(empty.details, /job_id/, 'naming job_id')
})

t.test('an invalid Submit is INVALID_ARGUMENT with the REST message naming the field, and leaves no row', async t => {
  const before = await rowCount()
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['seed out of range', { prompt: 'a', seed: 4294967296 }, /seed must be .*4294967295/],
    ['seed below -1', { prompt: 'a', seed: -2 }, /seed must be/],
    ['unknown aspect ratio', { prompt: 'a', aspect_ratio: '4:3' }, /aspect_ratio must be one of 1:1/],
    ['missing prompt', { seed: 1 }, /prompt is required/],
    ['blank prompt', { prompt: '  \t ' }, /prompt is required: workflow "text_to_image" needs a non-blank prompt/],
    ['10 kB prompt', { prompt: 'x'.repeat(10_000) }, /prompt must be .*4000/],
    ['batch size 5', { prompt: 'a', batch_size: 5 }, /batch_size must be an integer from 1 to 4/],
    ['empty workflow', { prompt: 'a', workflow: '' }, /workflow must be/],
    ['unknown workflow', { prompt: 'a', workflow: 'video_magic' }, /workflow: unknown workflow "video_magic"/],
    ['unknown model', { prompt: 'a', model: 'sd9000' }, /model: unknown model "sd9000"/]
  ]
  for (const [name, body, field] of cases) {
    const err = await jobs.fails('Submit', body)
    t.equal(err.code, grpc.status.INVALID_ARGUMENT, `${name} → INVALID_ARGUMENT`)
    t.match(err.details, field, `${name}: names the field (${err.details.slice(0, 100)})`)
    const rest = await sys.submit(body)
    t.equal(rest.status, 400)
    t.equal(err.details, rest.body.error, `${name}: word for word what REST says`)
  }
  t.equal(await rowCount(), before, 'no row was written')
})

t.test('a string field that is not valid UTF-8 (a lone surrogate) is INVALID_ARGUMENT naming it, not silently replaced', async t => {
  const before = await rowCount()
  // protobufjs writes a lone surrogate as the 3 bytes ED A0 80, which no UTF-8 decoder accepts
  for (const [field, body] of [['prompt', { prompt: 'a red \ud800 cat' }], ['workflow', { prompt: 'a', workflow: 'text\udfff' }]] as const) {
    const err = await jobs.fails('Submit', body)
    t.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field} → INVALID_ARGUMENT`)
    t.match(err.details, new RegExp(`^Invalid request: ${field} is not valid UTF-8`), `names the field: ${err.details}`)
  }
  const status = await jobs.fails('GetStatus', { job_id: 'abc\ud800' })
  t.equal(status.code, grpc.status.INVALID_ARGUMENT, 'in any request: GetStatus too')
  t.match(status.details, /job_id is not valid UTF-8/)
  t.equal(await rowCount(), before, 'no row was written')
})

t.test('a message over the size limit is RESOURCE_EXHAUSTED without a retry-after trailer: not to be retried', async t => {
  const before = await rowCount()
  const err = await jobs.fails('Submit', { prompt: 'x'.repeat(5 * 1024 * 1024) })
  t.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED, the gRPC layer\'s answer to an oversize message')
  t.same(err.metadata.get('retry-after'), [], 'with no retry-after trailer, which is what says "retry" (OVERLOADED carries one)')
  t.same(err.metadata.get('app-error-code'), [], 'and no catalogue code')
  t.equal(await rowCount(), before, 'nothing was written')
})

t.test('a watch past its deadline ends DEADLINE_EXCEEDED, and the gateway stops it', async t => {
  const { job_id: id } = await jobs.call('Submit', { prompt: 'too slow to watch' })
  const started = Date.now()
  const res = await jobs.watch({ job_id: id }, { deadlineMs: 300 })
  t.equal(res.status.code, grpc.status.DEADLINE_EXCEEDED)
  t.ok(Date.now() - started < 15_000, `ended at the deadline, not at the job's end (${Date.now() - started} ms)`)
  t.equal(res.messages[0]?.update, 'snapshot', 'after what arrived in time')
  const ended = await sys.gateway!.waitForLog(l => l.msg === 'watch ended' && l.job_id === id, 120_000)
  t.equal(ended.why, 'deadline', 'the gateway ended its side of the watch at the deadline')
  await sys.waitForStatus(id, s => s.status === 'finished')
})

t.test('ListJobs: newest first, the real total, limit capped at 100', async t => {
  const total = await rowCount()
  const page = await jobs.call('ListJobs', { limit: 2, offset: 0 })
  t.equal(page.total, total, `total counts every job (${total})`)
  t.same([page.limit, page.offset, page.jobs.length], [2, 0, 2])
  const [rows] = await sys.db.pool.query('SELECT id FROM jobs ORDER BY created_at DESC, id DESC') as any
  t.same(page.jobs.map(j => j.id), rows.slice(0, 2).map((r: { id: string }) => r.id), 'newest first')
  const next = await jobs.call('ListJobs', { limit: 2, offset: 2 })
  t.same(next.jobs.map(j => j.id), rows.slice(2, 4).map((r: { id: string }) => r.id), 'offset pages on')
  const capped = await jobs.call('ListJobs', { limit: 500, offset: 0 })
  t.equal(capped.limit, 100, 'limit capped at 100')
  t.equal((await jobs.call('ListJobs', { offset: 0 })).limit, 50, 'default limit 50')
  const first = capped.jobs.find(j => j.id === finishedId)!
  t.match(first, { prompt: 'a red cat', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '1:1', batch_size: 1, seed: 42, status: 'JOB_STATUS_FINISHED', output_path: `/outputs/${finishedId}.png` })
})

t.test('CancelJob of a job that has ended is FAILED_PRECONDITION', async t => {
  const err = await jobs.fails('CancelJob', { job_id: finishedId })
  t.equal(err.code, grpc.status.FAILED_PRECONDITION)
  t.equal(err.details, 'Cannot cancel job with status: finished', 'the original REST message')
})

t.test('the standard health service says SERVING', async t => {
  t.equal(await checkHealth(sys.grpcAddress), 'SERVING')
  t.equal(await checkHealth(sys.grpcAddress, JOBS_SERVICE_NAME), 'SERVING', `for ${JOBS_SERVICE_NAME} too`)
})

t.test('server reflection lists the service and describes it well enough to call it without the .proto', async t => {
  const reflection = new ReflectionClient(sys.grpcAddress)
  t.teardown(() => reflection.close())
  const services = await reflection.listServices()
  t.ok(services.includes(JOBS_SERVICE_NAME), `lists ${JOBS_SERVICE_NAME} (${services.join(', ')})`)
  t.ok(services.includes('grpc.health.v1.Health'), 'and the health service')
  const pkg = grpc.loadPackageDefinition(await reflection.definitionOf(JOBS_SERVICE_NAME)) as any
  const Client = pkg.comfyjobs.jobs.v1.JobService
  t.same(Object.keys(Client.service).sort(), ['CancelJob', 'GetStatus', 'ListJobs', 'Submit', 'WatchJob'])
  const client = new Client(sys.grpcAddress, grpc.credentials.createInsecure())
  t.teardown(() => client.close())
  const res = await new Promise<any>((resolve, reject) => client.Submit({ prompt: 'a red cat' }, (err: Error | null, r: unknown) => err ? reject(err) : resolve(r)))
  t.match(res, { job_id: UUID, status: 'JOB_STATUS_QUEUED' }, 'a Submit through the reflected description creates a job')
  await sys.waitForStatus(res.job_id, s => s.status === 'finished')
})

t.test('Submit with an idempotency-key metadata entry returns the same job, as REST does', async t => {
  const submitWithKey = (prompt: string, key: string) => new Promise<{ err: grpc.ServiceError | null, res?: { job_id: string } }>(resolve => {
    const metadata = new grpc.Metadata()
    metadata.set('idempotency-key', key)
    ;(jobs.client.Submit as any).call(jobs.client, { prompt }, metadata, { deadline: Date.now() + 5000 },
      (err: grpc.ServiceError | null, res?: { job_id: string }) => resolve({ err, res }))
  })
  const answers = await Promise.all(Array.from({ length: 20 }, () => submitWithKey('grpc once', 'grpc-key-1')))
  t.same(answers.map(a => a.err), Array(20).fill(null), 'all succeed')
  t.equal(new Set(answers.map(a => a.res!.job_id)).size, 1, 'with one job_id')
  const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'grpc once'") as any
  t.equal(Number(rows[0].n), 1, 'and one row')
  const rest = await fetch(`${sys.baseUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'grpc-key-1' }, body: JSON.stringify({ prompt: 'grpc once' }) })
  t.equal((await rest.json()).job_id, answers[0].res!.job_id, 'the same key over REST finds the same job')
  const conflict = await submitWithKey('another prompt', 'grpc-key-1')
  t.equal(conflict.err?.code, grpc.status.ALREADY_EXISTS, 'another body with that key is ALREADY_EXISTS')
  const bad = await submitWithKey('bad key', 'has space')
  t.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT, 'a malformed key is INVALID_ARGUMENT')
  t.match(bad.err?.details, /idempotency-key/)
})
