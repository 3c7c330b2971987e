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
import { Redis } from 'ioredis'

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
  t.ok(ms < 15_000, `bounded, without waiting for Redis, which is still down (${Math.round(ms)} ms; push bound 1 s)`)
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

/** Submits until the gateway has its Redis connection back. */
async function submitWhenBack (prompt: string): Promise<string> {
  for (let i = 0; ; i++) {
    try { return (await jobs.call('Submit', { prompt })).job_id } catch (err) {
      if (i > 50) throw err
      await sleep(200)
    }
  }
}

t.test('Redis hung (SIGSTOP): WatchJob is UNAVAILABLE with EVENTS_UNAVAILABLE before its deadline, not INTERNAL', async t => {
  const id = await submitWhenBack('watched while Redis hangs')
  redis.freeze()
  t.teardown(() => redis.unfreeze())
  for (const request of [{ job_id: id }, { job_id: id, after_seq: 0 }]) {
    const watched = await jobs.watch(request, { deadlineMs: 15_000 })
    const how = request.after_seq === undefined ? 'a new watch' : 'a resumed watch'
    t.equal(watched.status.code, grpc.status.UNAVAILABLE, `${how}: UNAVAILABLE, not at its deadline`)
    t.same(watched.status.metadata.get('app-error-code'), ['EVENTS_UNAVAILABLE'], `${how}: the catalogue code EVENTS_UNAVAILABLE`)
  }
  t.notOk(sys.gateway!.logs.some(l => l.msg === 'unhandled error in a gRPC call'), 'nothing was logged as an unhandled error')
  redis.unfreeze()
})

t.test('shutdown ends open watches UNAVAILABLE, each with where it is to resume, and the gateway exits', async t => {
  const ids = [await submitWhenBack('watched at shutdown'), await submitWhenBack('also watched at shutdown')]
  // one job with a history: a queued event at seq 1 of a history of its own
  const history = new Redis(redis.url)
  t.teardown(() => history.disconnect())
  await history.xadd(`job:events:${ids[1]}`, '1-1234567890123456', 'seq', '1', 'job_id', ids[1], 'type', 'queued', 'status', 'queued', 'at', new Date().toISOString())
  const snapshots: Array<Promise<void>> = []
  const watching = ids.map(id => {
    let opened!: () => void
    snapshots.push(new Promise<void>(resolve => { opened = resolve }))
    return jobs.watch({ job_id: id }, { onMessage: () => opened() })
  })
  await Promise.all(snapshots) // the watches are open and have their snapshots
  const started = performance.now()
  await sys.gateway!.kill('SIGTERM')
  const exitMs = performance.now() - started
  const watched = await Promise.all(watching)
  for (const [i, hint] of ['after_seq=0 epoch=0', 'after_seq=1 epoch=1234567890123456'].entries()) {
    t.equal(watched[i].status.code, grpc.status.UNAVAILABLE, `watch ${i + 1} ends UNAVAILABLE`)
    t.equal(watched[i].status.details, `the gateway is shutting down; resume with ${hint}`, `watch ${i + 1}: only its own place to resume`)
    t.equal(watched[i].messages[0]?.update, 'snapshot', `watch ${i + 1}: after its snapshot`)
  }
  t.equal(await sys.gateway!.exited, 0, 'the gateway exits cleanly')
  t.ok(exitMs < 30_000, `and without waiting for the watch to end by itself (${Math.round(exitMs)} ms)`)
  const closed = sys.gateway!.logs.find(l => l.msg === 'gRPC server closed')
  t.match(closed, { graceful: true, watch_streams_ended: 2 }, 'gRPC closed gracefully after ending the streams')
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
