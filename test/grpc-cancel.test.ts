// CancelJob through gRPC: a queued job is taken off the queue and never runs; a processing job is
// stopped on its worker; either way the database, the status and the event stream end `cancelled`.
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'

// one job at a time, each about 1.5 s: a second job waits in the queue behind the first
const sys = await TestSystem.start(t, { name: 'grpccancel', workers: 1, workerEnv: { WORKER_CONCURRENCY: '1', BUILTIN_STEPS: '10', BUILTIN_STEP_MS: '150' } })
await sys.waitForWorkersConnected()
const jobs = new JobsGrpc(sys.grpcAddress)
t.teardown(() => jobs.close())
const redis = new Redis(sys.redisUrl)
const queue = new Queue(sys.queueName, { connection: redis })
t.teardown(async () => { await queue.close(); redis.disconnect() })

const workerSaw = (id: string) => sys.workers[0].logs.some(l => l.job_id === id)

t.test('a queued job is cancelled and never runs', async t => {
  const { job_id: running } = await jobs.call('Submit', { prompt: 'the slow first job' })
  await sys.waitForStatus(running, s => s.status === 'processing')
  const { job_id: id } = await jobs.call('Submit', { prompt: 'cancel me while I wait' })
  t.equal((await jobs.call('GetStatus', { job_id: id })).status, 'JOB_STATUS_QUEUED', 'it waits behind the first job')
  t.ok(await queue.getJob(id), 'and is on the queue')
  const watching = jobs.watch({ job_id: id })
  await sleep(100) // the watch is open before the cancel

  const res = await jobs.call('CancelJob', { job_id: id })
  t.same(res, { job_id: id, status: 'JOB_STATUS_CANCELLED', previous_status: 'JOB_STATUS_QUEUED', message: 'Task cancelled' })
  t.notOk(await queue.getJob(id), 'it is off the queue')
  const status = await jobs.call('GetStatus', { job_id: id })
  t.match(status, { status: 'JOB_STATUS_CANCELLED', error: 'cancelled', source: 'STATUS_SOURCE_REDIS' }, 'GetStatus says cancelled')
  t.equal((await sys.status(id)).body.status, 'cancelled', 'and so does REST')
  const row = await sys.row(id)
  t.equal(row.status, 'cancelled', 'the database says cancelled')
  t.ok(row.finished_at, 'with the time it ended')

  const watched = await watching
  t.equal(watched.status.code, grpc.status.OK, 'the open watch ends')
  t.same(watched.messages.map(m => m.update), ['snapshot', 'event'])
  t.equal(watched.messages[1].event!.type, 'JOB_EVENT_TYPE_CANCELLED', 'with the cancelled event')
  t.equal(watched.messages[1].seq, watched.messages[0].seq + 1)

  await sys.waitForStatus(running, s => s.status === 'finished')
  const { job_id: next } = await jobs.call('Submit', { prompt: 'the job after' })
  await sys.waitForStatus(next, s => s.status === 'finished')
  t.ok(workerSaw(next), 'the worker went on to the next job')
  t.notOk(workerSaw(id), 'and never took the cancelled one')
  t.equal((await sys.row(id)).status, 'cancelled', 'which is still cancelled')

  const again = await jobs.fails('CancelJob', { job_id: id })
  t.equal(again.code, grpc.status.FAILED_PRECONDITION, 'cancelling it again is FAILED_PRECONDITION')
  t.equal(again.details, 'Cannot cancel job with status: cancelled')
})

t.test('a processing job is stopped on its worker and ends cancelled, not finished', async t => {
  const { job_id: id } = await jobs.call('Submit', { prompt: 'stop me halfway' })
  await sys.waitForStatus(id, s => s.status === 'processing' && s.progress > 0)
  const res = await jobs.call('CancelJob', { job_id: id })
  t.equal(res.previous_status, 'JOB_STATUS_PROCESSING')
  const stopped = await sys.workers[0].waitForLog(l => l.job_id === id && l.msg === 'job ended; waiting for the gateway to ack', 120_000)
  t.equal(stopped.kind, 'CANCELLED', 'the worker stopped the job')
  await sys.workers[0].waitForLog(l => l.job_id === id && l.msg === 'terminal event acked', 120_000)
  const row = await sys.row(id)
  t.equal(row.status, 'cancelled', 'the database says cancelled')
  t.ok(row.progress < 100, `at ${row.progress} %`)
  const [outputs] = await sys.db.pool.query('SELECT * FROM outputs WHERE job_id = ?', [id]) as any
  t.equal(outputs.length, 0, 'no output recorded')
  const history = await jobs.watch({ job_id: id, after_seq: 0 })
  const types = history.messages.map(m => m.event!.type)
  t.equal(types[0], 'JOB_EVENT_TYPE_PROCESSING')
  t.equal(types.at(-1), 'JOB_EVENT_TYPE_CANCELLED', 'its events end with cancelled')
  t.equal(types.filter(ty => ty === 'JOB_EVENT_TYPE_CANCELLED').length, 1, 'once: the worker\'s own cancelled event is not doubled')
})

t.test('jobs cancelled the moment after submit, as the worker takes them, all end cancelled', async t => {
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const { job_id: id } = await jobs.call('Submit', { prompt: `race ${i}` })
    const res = await jobs.call('CancelJob', { job_id: id })
    t.ok(['JOB_STATUS_QUEUED', 'JOB_STATUS_PROCESSING'].includes(res.previous_status), `job ${i} cancelled while ${res.previous_status}`)
    ids.push(id)
  }
  const { job_id: last } = await jobs.call('Submit', { prompt: 'after the races' })
  await sys.waitForStatus(last, s => s.status === 'finished')
  for (const id of ids) {
    t.equal((await sys.row(id)).status, 'cancelled', `${id}: cancelled in the database`)
    t.equal((await jobs.call('GetStatus', { job_id: id })).status, 'JOB_STATUS_CANCELLED', `${id}: and in its status`)
    t.notOk(sys.workers[0].logs.some(l => l.job_id === id && l.msg === 'job ended; waiting for the gateway to ack' && l.kind === 'FINISHED'), `${id}: never ran to the end`)
  }
})
