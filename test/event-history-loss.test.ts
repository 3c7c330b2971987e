// Redis restarted empty takes every job's event history with it. Watchers over SSE and gRPC and the
// CLI must still end with the job's end: a watch open during the loss, a resume with an id of the lost
// history (mid-job or after the job ended), and `comfy-jobs generate --wait -o`, which saves the image.
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { WatchJobResponse } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'
import { openEvents, readMessages, type SseMessage } from './helpers/sse.ts'
import { startCli } from './helpers/cli-process.ts'
import { pngSize } from './helpers/png.ts'

const redis = new PrivateRedis()
await redis.start()
t.teardown(() => redis.stop())
const sys = await TestSystem.start(t, {
  name: 'histloss',
  workers: 1,
  redisUrl: redis.url,
  workerEnv: { BUILTIN_STEPS: '16', BUILTIN_STEP_MS: '250' },
  // generous Redis bounds: this test is about watchers, and a loaded machine must not refuse its submits
  gatewayEnv: { SSE_KEEPALIVE_MS: '500', QUEUE_PUSH_TIMEOUT_MS: '10000', REDIS_COMMAND_TIMEOUT_MS: '5000' }
})
await sys.waitForWorkersConnected()
const jobs = new JobsGrpc(sys.grpcAddress)
t.teardown(() => jobs.close())
const dir = await mkdtemp(join(tmpdir(), 'cj-histloss-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))

/** The id (`<epoch>.<seq>`) of every event in the job's history as Redis holds it now. */
async function historyIds (jobId: string): Promise<string[]> {
  const client = new Redis(redis.url)
  try {
    return (await client.xrange(`job:events:${jobId}`, '-', '+')).map(([id]) => id.split('-').reverse().join('.'))
  } finally {
    client.disconnect()
  }
}

async function restartRedisEmpty (): Promise<void> {
  await redis.stop()
  await redis.start()
}

const sseEnd = (messages: SseMessage[]) => {
  const last = messages.at(-1)
  return last === undefined ? 'nothing' : `${last.event}:${last.data.status}`
}
const grpcEnd = (messages: WatchJobResponse[]) => {
  const last = messages.at(-1)
  return last === undefined ? 'nothing' : `${last.update}:${last.event?.status ?? last.snapshot?.status}`
}

t.test('Redis restarted empty mid-job: every watcher and the CLI end with the job\'s end', async t => {
  const file = join(dir, 'mid-job.png')
  const cli = startCli(['generate', 'history lost mid-job', '--wait', '-o', file, '--url', sys.baseUrl])
  const id = await cli.jobId
  const sse = readMessages(await openEvents(sys.baseUrl, id), () => false, 60_000)
  let snapshotSeen: () => void
  const grpcOpen = new Promise<void>(resolve => { snapshotSeen = resolve })
  const watch = jobs.watch({ job_id: id }, { deadlineMs: 60_000, onMessage: () => snapshotSeen() })
  await grpcOpen // both watches have started (SSE answers only after its snapshot) before Redis goes
  await sys.waitForStatus(id, s => s.status === 'processing' && s.step >= 2)
  const before = await historyIds(id)
  const seen = before.at(-1)!
  await restartRedisEmpty()

  const run = await cli.done
  t.equal(run.code, 0, `the CLI exits 0 (stderr: ${run.stderr.slice(-400)})`)
  t.same(pngSize(await readFile(file)), { width: 1024, height: 1024 }, 'and saved the image')
  t.match(run.stderr, /100% finished/, 'its bar ended at finished')

  // the end comes as the terminal event of the new history, or as a terminal snapshot when the
  // watcher next looks while the history lacks it: either way the watcher learns the outcome
  const { messages, ended } = await sse
  t.ok(ended, 'the SSE stream closed by itself')
  t.match(sseEnd(messages), /^(finished|snapshot):finished$/, 'the SSE watcher\'s last message is the job\'s end')
  t.ok(messages.filter(m => m.event === 'snapshot').length >= 2, 'after a fresh snapshot once the history was lost')

  const watched = await watch
  t.equal(watched.status.code, grpc.status.OK, 'the gRPC watch ends OK')
  t.match(grpcEnd(watched.messages), /^(event|snapshot):JOB_STATUS_FINISHED$/, 'with the job\'s end')
  t.ok(watched.messages.filter(m => m.update === 'snapshot').length >= 2, 'after a fresh snapshot too')

  const after = await historyIds(id)
  t.notOk(after.some(a => before.includes(a)), `the new history (${after.join(', ')}) shares no id with the lost one`)
  const resumed = await readMessages(await openEvents(sys.baseUrl, id, { lastEventId: seen }))
  t.same(resumed.messages.map(m => `${m.event}:${m.data.status}`), ['snapshot:finished'], `Last-Event-ID ${seen} of the lost history: the terminal snapshot`)
  const [seq, epoch] = [Number(seen.split('.')[1]), seen.split('.')[0]]
  const grpcResumed = await jobs.watch({ job_id: id, after_seq: seq, epoch })
  t.equal(grpcEnd(grpcResumed.messages), 'snapshot:JOB_STATUS_FINISHED', 'gRPC after_seq with the lost epoch: the terminal snapshot')
})

t.test('Redis restarted empty after the job ended: resumes get the outcome unless their id is the end', async t => {
  // the CLI reaches the gateway through a proxy that is cut mid-job and restored after the loss
  const proxy = new TcpProxy(sys.gatewayPort)
  await proxy.start()
  t.teardown(() => proxy.stop())
  const file = join(dir, 'after-end.png')
  const cli = startCli(['generate', 'history lost after the end', '--wait', '-o', file, '--url', `http://127.0.0.1:${proxy.port}`])
  const id = await cli.jobId
  await sys.waitForStatus(id, s => s.status === 'processing' && s.step >= 2)
  proxy.cut(true)
  await sys.waitForStatus(id, s => s.status === 'finished')
  const ids = await historyIds(id)
  const [progressId, endId] = [ids.at(-3)!, ids.at(-1)!]
  const row = await sys.row(id)
  t.equal(row.end_event_id, endId, `the database recorded where the history ended (${endId})`)
  await restartRedisEmpty()
  t.same(await historyIds(id), [], 'the history is gone')
  proxy.resume()

  const run = await cli.done
  t.equal(run.code, 0, `the CLI, cut off before the end, exits 0 once it reconnects (stderr: ${run.stderr.slice(-400)})`)
  t.same(pngSize(await readFile(file)), { width: 1024, height: 1024 }, 'and saved the image')

  const mid = await readMessages(await openEvents(sys.baseUrl, id, { lastEventId: progressId }))
  t.same(mid.messages.map(m => `${m.event}:${m.data.status}:${m.id}`), [`snapshot:finished:${endId}`], `Last-Event-ID ${progressId}: the terminal snapshot, carrying the end's id`)
  const bare = await readMessages(await openEvents(sys.baseUrl, id, { lastEventId: progressId.split('.')[1] }))
  t.same(bare.messages.map(m => `${m.event}:${m.data.status}`), ['snapshot:finished'], 'a bare seq (an id from before epochs): the terminal snapshot')
  t.equal((await openEvents(sys.baseUrl, id, { lastEventId: endId })).status, 204, `Last-Event-ID ${endId}, the end itself: 204, as the database proves it was seen`)
  const fresh = await readMessages(await openEvents(sys.baseUrl, id))
  t.same(fresh.messages.map(m => `${m.event}:${m.data.status}:${m.id}`), [`snapshot:finished:${endId}`], 'a new watch: the terminal snapshot with the end\'s id')

  const [seq, epoch] = [Number(progressId.split('.')[1]), progressId.split('.')[0]]
  const grpcMid = await jobs.watch({ job_id: id, after_seq: seq, epoch })
  t.same([grpcMid.status.code, grpcEnd(grpcMid.messages)], [grpc.status.OK, 'snapshot:JOB_STATUS_FINISHED'], 'gRPC after the progress event: the terminal snapshot')
  const grpcEndResume = await jobs.watch({ job_id: id, after_seq: Number(endId.split('.')[1]), epoch: endId.split('.')[0] })
  t.same([grpcEndResume.status.code, grpcEndResume.messages.length], [grpc.status.OK, 0], 'gRPC after the end itself: nothing, and the stream ends')
})
