// Cancelling ComfyUI jobs through the API against a real ComfyUI 0.8.0: while ComfyUI runs the prompt
// (interrupted at its next node), and while the prompt waits in ComfyUI's own queue behind another
// client's (deleted there, never run). Either way the job is cancelled and ComfyUI saves nothing.
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { RealComfyUI } from './helpers/real-comfyui.ts'

const WORKFLOWS_DIR = join(import.meta.dirname, 'fixtures', 'comfyui-real')
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

const comfy = await RealComfyUI.start(t)
const sys = await TestSystem.start(t, {
  name: 'comfy_real_cancel',
  workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: comfy.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR },
  // the row takes progress once, at the first event: a cancel must bring it up to date
  gatewayEnv: { PROGRESS_DB_INTERVAL_MS: '600000' }
})
await sys.waitForWorkersConnected()

async function cancel (jobId: string): Promise<number> {
  return (await fetch(`${sys.baseUrl}/api/cancel/${jobId}`, { method: 'POST' })).status
}
const queue = async () => (await comfy.get('/queue')).json as { queue_running: any[][], queue_pending: any[][] }
const idle = async () => (await queue()).queue_running.length === 0 && (await queue()).queue_pending.length === 0

t.test('cancel while ComfyUI runs the prompt: interrupted at its next node, cancelled, and the row keeps the progress it reached', async t => {
  const res = await sys.submit({ prompt: 'three slow blurs', workflow: 'real_slow', model: 'bilinear', seed: 0x808080 })
  const id = res.body.job_id
  const midway = await sys.waitForStatus(id, s => s.status === 'processing' && s.node === 'ImageBlur' && s.progress >= 20, 60_000)
  t.equal(await cancel(id), 200)
  const done = await sys.waitForStatus(id, isEnd)
  t.equal(done.status, 'cancelled')
  t.ok(done.progress >= midway.progress, `the status keeps the progress reached (${done.progress})`)
  await comfy.waitUntil(idle, 'ComfyUI to be idle')
  const history = (await comfy.get(`/history/${id}`)).json[id]
  t.equal(history?.status.messages.at(-1)[0], 'execution_interrupted', 'ComfyUI stopped the run')
  t.same(await comfy.outputs('real'), [], 'and saved nothing')
  const row = await sys.row(id)
  t.same({ status: row.status, progress: row.progress }, { status: 'cancelled', progress: done.progress }, 'the database says what the status says')

  const next = await sys.submit({ prompt: 'after the cancel', workflow: 'real_image', model: 'bilinear', seed: 1 })
  t.equal((await sys.waitForStatus(next.body.job_id, isEnd, 60_000)).status, 'finished', 'ComfyUI is free for the next job')
})

t.test('cancel while the prompt waits in ComfyUI\'s queue: deleted there, it never runs', async t => {
  // another client of the same ComfyUI keeps it busy
  const graph = JSON.parse(await readFile(join(WORKFLOWS_DIR, 'real_slow', 'graph.json'), 'utf8'))
  graph['9'].inputs.filename_prefix = 'foreign/slow'
  const foreign = randomUUID()
  t.equal((await comfy.post('/prompt', { prompt: graph, prompt_id: foreign, client_id: 'another-client' })).status, 200)
  await comfy.waitUntil(async () => (await queue()).queue_running.some(item => item[1] === foreign), 'the other client\'s prompt to run')

  const res = await sys.submit({ prompt: 'waits behind another client', workflow: 'real_image', model: 'bilinear', seed: 2 })
  const id = res.body.job_id
  await comfy.waitUntil(async () => (await queue()).queue_pending.some(item => item[1] === id), 'the job pending in ComfyUI\'s queue')
  // the worker's started event reaches the gateway over its stream, possibly after ComfyUI queued the prompt
  t.equal((await sys.waitForStatus(id, s => s.status !== 'queued')).status, 'processing', 'the worker runs it, as far as the job service knows')
  t.equal(await cancel(id), 200)
  t.equal((await sys.waitForStatus(id, isEnd)).status, 'cancelled')
  await comfy.waitUntil(async () => !(await queue()).queue_pending.some(item => item[1] === id), 'the prompt to leave ComfyUI\'s queue')
  t.equal((await comfy.post('/interrupt', { prompt_id: foreign })).status, 200)
  await comfy.waitUntil(idle, 'ComfyUI to be idle')
  t.same((await comfy.get(`/history/${id}`)).json, {}, 'ComfyUI never ran it')
  t.equal((await comfy.get(`/history/${foreign}`)).json[foreign].status.messages.at(-1)[0], 'execution_interrupted', 'the other client\'s run was untouched until its own interrupt')
  t.same(await comfy.outputs('real'), ['image_00001_.png'], 'only the previous test\'s image exists')
})
