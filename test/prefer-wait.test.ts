// Prefer: wait[=N] on POST /api/generate and wait_seconds on gRPC Submit: the terminal record when the
// job ends in time, else its current status (202 + Location); a bad N is a 400 that writes nothing;
// a worker or a gateway dying while a request waits ends in a bounded answer, never a hang.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import * as grpc from '@grpc/grpc-js'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'

/** A client-side bound well past any wait asked here: reaching it means the gateway hung. */
const CLIENT_TIMEOUT_MS = 60_000

async function submitWaiting (sys: TestSystem, prefer: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS)
  })
}

/** The id of the job with this prompt, once its row is committed. */
async function committedJob (sys: TestSystem, prompt: string): Promise<string> {
  for (;;) {
    const [rows] = await sys.db.pool.query('SELECT id FROM jobs WHERE prompt = ?', [prompt]) as any
    if (rows.length === 1) return rows[0].id
    await sleep(50)
  }
}

async function jobCount (sys: TestSystem): Promise<number> {
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  return Number(rows[0].n)
}

t.test('Prefer: wait', async t => {
  // a job takes about 12 × 150 ms: long enough to be caught running, short enough to wait for
  const sys = await TestSystem.start(t, { name: 'pwait', workerEnv: { BUILTIN_STEPS: '12', BUILTIN_STEP_MS: '150' } })
  await sys.waitForWorkersConnected()
  const grpcClient = new JobsGrpc(`127.0.0.1:${sys.gatewayGrpcPort}`)
  t.teardown(() => grpcClient.client.close())

  await t.test('a job that ends in time: 200 with its terminal record and Preference-Applied', async t => {
    const res = await submitWaiting(sys, 'wait=60', { prompt: 'wait for me', seed: 1 })
    t.equal(res.status, 200)
    t.equal(res.headers.get('preference-applied'), 'wait=60')
    const body = await res.json() as any
    t.equal(body.status, 'finished')
    t.equal(body.progress, 100)
    t.equal(body.outputs.length, 1, 'the record lists the output')
    t.match(body.image_url, /^\/outputs\//)
    t.equal(body.prompt, 'wait for me', 'the full record, as GET /api/jobs/:id gives it')
    const record = await (await fetch(`${sys.baseUrl}/api/jobs/${body.job_id}`)).json() as any
    t.same({ ...body, updated_at: undefined }, { ...record, updated_at: undefined })
  })

  await t.test('`wait` alone waits up to 60 s', async t => {
    const res = await submitWaiting(sys, 'respond-async, wait', { prompt: 'bare wait', seed: 2 })
    t.equal(res.status, 200)
    t.equal(res.headers.get('preference-applied'), 'wait=60')
  })

  await t.test('a job still running when the time is up: 202, its current status, Location to poll', async t => {
    const res = await submitWaiting(sys, 'wait=1', { prompt: 'too slow', seed: 3 })
    t.equal(res.status, 202)
    const body = await res.json() as any
    t.ok(['queued', 'processing'].includes(body.status), `still live: ${body.status}`)
    t.equal(res.headers.get('location'), `/api/status/${body.job_id}`)
    t.notOk(res.headers.get('preference-applied'))
    const end = await sys.waitForStatus(body.job_id, s => s.status === 'finished')
    t.equal(end.status, 'finished', 'the job goes on and ends')
  })

  await t.test('a bad N is a 400 naming the header, and nothing is written', async t => {
    const before = await jobCount(sys)
    for (const prefer of ['wait=61', 'wait=0', 'wait=abc', 'wait=-1']) {
      const res = await submitWaiting(sys, prefer, { prompt: 'refused' })
      t.equal(res.status, 400, prefer)
      const body = await res.json() as any
      t.equal(body.details[0].field, 'prefer', prefer)
    }
    t.equal(await jobCount(sys), before, 'no row')
    const counts = await sys.queueCounts()
    t.equal(counts.waiting + counts.active + counts.delayed + counts.prioritized, 0, 'no queue entry')
  })

  await t.test('other preferences are ignored: a plain submit', async t => {
    const res = await submitWaiting(sys, 'return=minimal', { prompt: 'no wait', seed: 4 })
    t.equal(res.status, 200)
    t.equal(((await res.json()) as any).status, 'queued')
    t.notOk(res.headers.get('preference-applied'))
  })

  await t.test('gRPC Submit wait_seconds: the terminal state when it ends in time, the current one otherwise', async t => {
    const done = await grpcClient.call('Submit', { prompt: 'grpc wait', seed: 5, wait_seconds: 60 }, CLIENT_TIMEOUT_MS)
    t.equal(done.ended, true)
    t.equal(done.status, 'JOB_STATUS_FINISHED')
    t.equal(done.job?.status, 'JOB_STATUS_FINISHED')
    t.equal(done.job?.outputs.length, 1)
    const slow = await grpcClient.call('Submit', { prompt: 'grpc too slow', seed: 6, wait_seconds: 1 }, CLIENT_TIMEOUT_MS)
    t.equal(slow.ended, false)
    t.ok(['JOB_STATUS_QUEUED', 'JOB_STATUS_PROCESSING'].includes(slow.job!.status))
    const plain = await grpcClient.call('Submit', { prompt: 'grpc plain', seed: 7 })
    t.equal(plain.status, 'JOB_STATUS_QUEUED')
    t.notOk(plain.job, 'no wait, no state')
    const before = await jobCount(sys)
    const err = await grpcClient.fails('Submit', { prompt: 'grpc refused', wait_seconds: 61 })
    t.equal(err.code, grpc.status.INVALID_ARGUMENT)
    t.match(err.details, /wait_seconds/)
    t.equal(await jobCount(sys), before, 'no row')
    await sys.waitForStatus(slow.job_id, s => s.status === 'finished')
    await sys.waitForStatus(plain.job_id, s => s.status === 'finished')
  })

  await t.test('the worker dies while a request waits: the time runs out and the status answers', async t => {
    const worker = sys.workers[0]
    const pending = submitWaiting(sys, 'wait=4', { prompt: 'worker dies', seed: 8 })
    await worker.waitForLog(l => l.msg === 'job started' && l.job_id !== undefined && worker.logs.filter(x => x.msg === 'job started').length >= 5)
    await worker.kill('SIGKILL')
    const res = await pending
    t.equal(res.status, 202, 'answered when the time was up')
    const body = await res.json() as any
    t.ok(['queued', 'processing'].includes(body.status), `still live: ${body.status}`)
    await sys.startWorker(0)
    await sys.waitForWorkersConnected()
    t.equal((await sys.waitForStatus(body.job_id, s => s.status === 'finished')).status, 'finished', 'the job still ends')
  })

  await t.test('the gateway dies while a request waits: the connection ends, the job survives', async t => {
    const pending = submitWaiting(sys, 'wait=60', { prompt: 'gateway dies', seed: 9 }).then(r => r.status, (err: Error) => err)
    const jobId = await committedJob(sys, 'gateway dies')
    await sleep(200) // the request is waiting now
    await sys.gateway!.kill('SIGKILL')
    const answer = await pending
    t.ok(answer instanceof Error, 'the client sees the connection end, not a hang')
    t.not((answer as Error).name, 'TimeoutError', 'not the client\'s own timeout')
    await sys.startGateway()
    await sys.waitForWorkersConnected()
    t.equal((await sys.waitForStatus(jobId, s => s.status === 'finished')).status, 'finished', 'the committed job ends')
  })

  await t.test('a gateway that closes gracefully answers its waiting requests at once', async t => {
    const pending = submitWaiting(sys, 'wait=60', { prompt: 'gateway closes', seed: 10 })
    const jobId = await committedJob(sys, 'gateway closes')
    await sleep(200) // the request is waiting now
    await sys.gateway!.kill('SIGTERM')
    const res = await pending
    t.equal(res.status, 202)
    t.equal(((await res.json()) as any).job_id, jobId)
    await sys.startGateway()
    await sys.waitForWorkersConnected()
    await sys.waitForStatus(jobId, s => s.status === 'finished')
  })
})
