// The gRPC API when Redis is gone (bounded UNAVAILABLE, nothing left behind) and at shutdown (open
// watches end UNAVAILABLE with where to resume, and the gateway exits).
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'

const redis = new PrivateRedis()
await redis.start()
t.teardown(() => redis.stop())
// no worker: submitted jobs stay queued
const sys = await TestSystem.start(t, { name: 'grpcoutage', workers: 0, redisUrl: redis.url })
const jobs = new JobsGrpc(sys.grpcAddress)
t.teardown(() => jobs.close())
const rowCount = async () => Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs')) as any)[0][0].n)

t.test('Redis stopped: Submit is UNAVAILABLE at once and leaves no row; CancelJob changes nothing; WatchJob is UNAVAILABLE', async t => {
  const { job_id: queued } = await jobs.call('Submit', { prompt: 'before the outage' })
  await redis.stop()
  const before = await rowCount()
  const started = performance.now()
  const err = await jobs.fails('Submit', { prompt: 'during the outage' })
  const ms = performance.now() - started
  t.equal(err.code, grpc.status.UNAVAILABLE, 'UNAVAILABLE')
  t.same(err.metadata.get('app-error-code'), ['QUEUE_UNAVAILABLE'], 'the catalogue code QUEUE_UNAVAILABLE')
  t.equal(err.details, '任務佇列異常，請稍後再試', 'with the REST error text')
  t.ok(ms < 2000, `within the push bound (${Math.round(ms)} ms)`)
  t.equal(await rowCount(), before, 'no row was written')

  const cancel = await jobs.fails('CancelJob', { job_id: queued })
  t.equal(cancel.code, grpc.status.UNAVAILABLE, 'CancelJob without Redis is UNAVAILABLE')
  t.equal((await sys.row(queued)).status, 'queued', 'and the job is untouched')
  const watched = await jobs.watch({ job_id: queued }, { deadlineMs: 5000 })
  t.equal(watched.status.code, grpc.status.UNAVAILABLE, 'WatchJob without Redis is UNAVAILABLE, at once rather than at its deadline')
  t.match(watched.status.details, /Job events are unavailable/)
  const status = await jobs.call('GetStatus', { job_id: queued })
  t.same([status.source, status.status], ['STATUS_SOURCE_DATABASE', 'JOB_STATUS_QUEUED'], 'GetStatus answers from the database meanwhile')
  await redis.start()
})

t.test('shutdown ends open watches UNAVAILABLE with the seq to resume after, and the gateway exits', async t => {
  let id = ''
  for (let i = 0; !id; i++) { // until the gateway has its Redis connection back
    try { id = (await jobs.call('Submit', { prompt: 'watched at shutdown' })).job_id } catch (err) {
      if (i > 50) throw err
      await sleep(200)
    }
  }
  const watching = jobs.watch({ job_id: id })
  await sys.gateway!.waitForLog(l => l.msg === 'job pushed to Redis queue' && l.job_id === id)
  await sleep(300) // the watch is open and has its snapshot
  const started = performance.now()
  await sys.gateway!.kill('SIGTERM')
  const exitMs = performance.now() - started
  const watched = await watching
  t.equal(watched.status.code, grpc.status.UNAVAILABLE, 'the watch ends UNAVAILABLE')
  t.match(watched.status.details, /shutting down; resume with after_seq=0/, 'saying where to resume')
  t.equal(watched.messages[0]?.update, 'snapshot', 'after its snapshot')
  t.equal(await sys.gateway!.exited, 0, 'the gateway exits cleanly')
  t.ok(exitMs < 5000, `and promptly (${Math.round(exitMs)} ms)`)
  const closed = sys.gateway!.logs.find(l => l.msg === 'gRPC server closed')
  t.match(closed, { graceful: true, watch_streams_ended: 1 }, 'gRPC closed gracefully after ending the stream')
})

t.test('a gRPC port already in use stops the gateway, naming GATEWAY_GRPC_PORT', async t => {
  const blocker = createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => blocker.close())
  sys.gatewayGrpcPort = (blocker.address() as { port: number }).port
  await t.rejects(sys.startGateway(), /exited/, 'the gateway does not come up')
  t.not(await sys.gateway!.exited, 0, 'it exits non-zero')
  t.match(sys.gateway!.raw.join('\n'), /cannot listen on 127\.0\.0\.1:\d+ \(GATEWAY_GRPC_HOST\/GATEWAY_GRPC_PORT\).*EADDRINUSE/, 'saying which address and variable')
})
