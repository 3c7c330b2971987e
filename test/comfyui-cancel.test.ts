// Cancelling a ComfyUI job through the worker's gRPC CancelJob: deleted from ComfyUI's queue while
// pending there (it never runs), interrupted by prompt id while running; either way `cancelled`.
import t from 'tap'
import { createWorkerClient, type CancelJobResponse, type WorkerServiceClient } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'

const fake = new FakeComfyUI({ stepMs: 150, nodeMs: 2 })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, { name: 'comfy_cancel', workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200' } })
await sys.waitForWorkersConnected()
const worker: WorkerServiceClient = createWorkerClient(`127.0.0.1:${sys.workerPorts[0]}`)
t.teardown(() => worker.close())

const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)
function cancel (jobId: string): Promise<CancelJobResponse> {
  return new Promise((resolve, reject) => {
    worker.CancelJob({ job_id: jobId, reason: 'cancelled by test' }, { deadline: Date.now() + 5000 }, (err, res) => err ? reject(err) : resolve(res!))
  })
}

t.test('cancel while the prompt waits in ComfyUI\'s queue: deleted there, never runs, cancelled', async t => {
  fake.hold()
  const res = await sys.submit({ prompt: 'never drawn', seed: 1 })
  const id = res.body.job_id
  await fake.waitUntil(() => fake.executor.pending.some(p => p.prompt_id === id), 'the prompt pending in ComfyUI')
  t.same(await cancel(id), { state: 'running' })
  const done = await sys.waitForStatus(id, isEnd)
  t.equal(done.status, 'cancelled')
  t.ok(fake.seen('POST', '/queue').some(r => JSON.stringify(r.body?.delete) === JSON.stringify([id])), 'POST /queue {delete:[id]} was sent')
  t.notOk(fake.executor.pending.some(p => p.prompt_id === id), 'gone from ComfyUI\'s queue')
  fake.release()
  await new Promise(resolve => setTimeout(resolve, 300))
  t.notOk(fake.executor.started.includes(id), 'ComfyUI never ran it')
  t.equal(fake.seen('POST', '/interrupt').length, 0, 'nothing running was interrupted')
  const row = await sys.row(id)
  t.equal(row.status, 'cancelled', 'the database says cancelled')
})

t.test('cancel while running: /interrupt with that prompt id, cancelled (not failed)', async t => {
  // slow steps: the interrupt must find the prompt still sampling, however busy the machine
  fake.executor.stepMs = 1000
  const res = await sys.submit({ prompt: 'stopped midway', seed: 2 })
  const id = res.body.job_id
  await fake.waitUntil(() => fake.executor.running?.prompt_id === id && fake.executor.currentNode === '3', 'the prompt sampling')
  await sys.waitForStatus(id, s => s.step >= 1)
  t.same(await cancel(id), { state: 'running' })
  const done = await sys.waitForStatus(id, isEnd)
  t.equal(done.status, 'cancelled', done.error ?? '')
  t.same(fake.seen('POST', '/interrupt').map(r => r.body), [{ prompt_id: id }], '/interrupt named the prompt')
  await fake.waitUntil(() => fake.executor.history.has(id), 'ComfyUI to record the run')
  const history = fake.executor.history.get(id) as any
  t.equal(history.status.messages.at(-1)[0], 'execution_interrupted', 'ComfyUI stopped it mid-run')
  t.equal(fake.executor.running, null, 'ComfyUI is free for the next job')
  fake.executor.stepMs = 150

  const next = await sys.submit({ prompt: 'next one', seed: 3 })
  t.equal((await sys.waitForStatus(next.body.job_id, isEnd)).status, 'finished', 'the next job runs normally')
})
