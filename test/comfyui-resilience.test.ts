// ENGINE=comfyui when ComfyUI misbehaves: a dropped socket, a restart that loses the queue, an outage
// (worker not ready, jobs wait), and a run longer than JOB_TIMEOUT_MS. No job hangs.
import t from 'tap'
import { checkHealth } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { jobEvents } from './helpers/job-events.ts'
import { pngSize } from './helpers/png.ts'

const fake = new FakeComfyUI({ stepMs: 100, nodeMs: 2 })
await fake.start()
t.teardown(() => fake.stop())
const workerEnv = { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200', COMFYUI_GIVE_UP_MS: '1500' }
const sys = await TestSystem.start(t, { name: 'comfy_resilience', workerEnv })
await sys.waitForWorkersConnected()

const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))
const health = async () => (await fetch(`${sys.baseUrl}/api/health`)).json()

async function submitRunning (body: Record<string, unknown>): Promise<string> {
  const res = await sys.submit(body)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const id = res.body.job_id
  await fake.waitUntil(() => fake.executor.running?.prompt_id === id && fake.executor.currentNode === '3', 'the job sampling in ComfyUI')
  return id
}

t.test('a socket dropped mid-run (and kept away) does not stop the job finishing: /history tells the end', async t => {
  const id = await submitRunning({ prompt: 'socket goes away', seed: 1 })
  fake.refuseSockets = true
  fake.dropSockets()
  await fake.waitUntil(() => fake.executor.history.has(id), 'the run to end in ComfyUI')
  const done = await sys.waitForStatus(id, isEnd, 120_000)
  fake.refuseSockets = false
  t.equal(done.status, 'finished', done.error ?? '')
  const png = Buffer.from(await (await fetch(`${sys.baseUrl}${done.image_url}`)).arrayBuffer())
  t.same(pngSize(png), { width: 1024, height: 1024 })
  t.ok(fake.seen('GET', `/history/${id}`).length > 0, 'found by polling /history')
  const types = (await jobEvents(sys.redisUrl, id)).map(e => e.type)
  t.equal(types.at(-1), 'finished')
  await fake.waitUntil(() => fake.socketCount === 1, 'the worker to reconnect its socket')
})

t.test('ComfyUI restarted mid-run (queue and history lost) fails the job clearly', async t => {
  const id = await submitRunning({ prompt: 'restart loses me', seed: 2 })
  const t0 = Date.now()
  await fake.restart()
  const done = await sys.waitForStatus(id, isEnd, 120_000)
  t.equal(done.status, 'failed')
  t.match(done.error, new RegExp(`ComfyUI lost prompt ${id}: it is in neither /history nor /queue`))
  t.comment(`failed ${Date.now() - t0} ms after the restart`)
})

t.test('ComfyUI down: the running job fails after bounded retries, the worker is not ready, queued jobs wait and run once it is back', async t => {
  const running = await submitRunning({ prompt: 'outage', seed: 3 })
  await fake.crash()
  const failed = await sys.waitForStatus(running, isEnd, 120_000)
  t.equal(failed.status, 'failed')
  t.match(failed.error, /ComfyUI at http:\/\/127\.0\.0\.1:\d+ is unreachable: .*gave up after \d+ ms of retries/)

  const deadline = Date.now() + 10_000
  let h = await health()
  while (h.workers.list[0].ready && Date.now() < deadline) { await sleep(100); h = await health() }
  t.equal(h.workers.list[0].ready, false, '/api/health shows the worker not ready')
  t.equal(h.workers.list[0].connected, true, 'though its event stream is up')
  t.equal(h.status, 'degraded')
  t.equal(await checkHealth(`127.0.0.1:${sys.workerPorts[0]}`), 'NOT_SERVING', 'gRPC health says NOT_SERVING')

  const res = await sys.submit({ prompt: 'waits for ComfyUI', seed: 4 })
  t.equal(res.status, 200, 'submits are still taken')
  const id = res.body.job_id
  await sleep(1500)
  t.equal((await sys.status(id)).body.status, 'queued', 'the job waits in the queue instead of failing')

  await fake.start()
  const done = await sys.waitForStatus(id, isEnd, 120_000)
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(await checkHealth(`127.0.0.1:${sys.workerPorts[0]}`), 'SERVING')
  let after = await health()
  const until = Date.now() + 5000 // the gateway asks GetInfo every 2 s
  while (!after.workers.list[0].ready && Date.now() < until) { await sleep(100); after = await health() }
  t.equal(after.workers.list[0].ready, true, '/api/health shows it ready again')
  t.equal(after.status, 'ok')
})

t.test('a run longer than JOB_TIMEOUT_MS fails and is interrupted in ComfyUI', async t => {
  await sys.workers[0].kill('SIGTERM')
  await sys.startWorker(0, { JOB_TIMEOUT_MS: '1500' })
  await sys.waitForWorkersConnected()
  fake.executor.stepMs = 400
  const res = await sys.submit({ prompt: 'too slow', seed: 5 })
  const id = res.body.job_id
  const done = await sys.waitForStatus(id, isEnd, 120_000)
  t.equal(done.status, 'failed')
  t.match(done.error, /the job timed out after 1500 ms \(JOB_TIMEOUT_MS\); it was stopped in ComfyUI/)
  t.ok(fake.seen('POST', '/interrupt').some(r => r.body?.prompt_id === id), '/interrupt was called with the job\'s prompt id')
  await fake.waitUntil(() => fake.executor.history.has(id), 'ComfyUI to record the interrupt')
  t.equal((fake.executor.history.get(id) as any).status.messages.at(-1)[0], 'execution_interrupted')
})
