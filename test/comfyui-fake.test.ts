// The fake ComfyUI the engine tests rely on behaves as shared/reference/comfyui-protocol.md says.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { WsRecorder } from './helpers/ws-recorder.ts'
import { pngSize } from './helpers/png.ts'

const SD15 = (seed: number, ckpt = 'sd_xl_base_1.0.safetensors') => ({
  4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
  6: { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox', clip: ['4', 1] } },
  7: { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
  5: { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 48, batch_size: 2 } },
  3: { class_type: 'KSampler', inputs: { seed, steps: 3, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  9: { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } }
})

const fake = new FakeComfyUI({ stepMs: 5, nodeMs: 1 })
await fake.start()
t.teardown(() => fake.stop())

async function post (path: string, body: unknown): Promise<{ status: number, json: any, text: string }> {
  const res = await fetch(`${fake.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  let json: any = null
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, json, text }
}
const get = async (path: string) => { const r = await fetch(`${fake.url}${path}`); return { status: r.status, json: await r.json().catch(() => null) } }

async function runToEnd (ws: WsRecorder, body: Record<string, unknown>): Promise<string> {
  const res = await post('/prompt', body)
  if (res.status !== 200) throw new Error(`prompt refused: ${res.text}`)
  const id = res.json.prompt_id
  await ws.waitFor(f => f.type === 'executing' && f.data.node === null && f.data.prompt_id === id, 'executing null')
  return id
}

t.test('validation: 400 shapes of §1, nothing queued', async t => {
  const missing = await post('/prompt', { prompt: SD15(1, 'x.safetensors') })
  t.equal(missing.status, 400)
  t.equal(missing.json.error.type, 'prompt_outputs_failed_validation')
  const err = missing.json.node_errors['4']
  t.equal(err.class_type, 'CheckpointLoaderSimple')
  t.same(err.dependent_outputs, ['9'])
  t.equal(err.errors[0].type, 'value_not_in_list')
  t.equal(err.errors[0].extra_info.input_name, 'ckpt_name')
  t.match(err.errors[0].details, /ckpt_name: 'x.safetensors' not in \[/)
  t.equal((await post('/prompt', {})).json.error.type, 'no_prompt')
  const noClass = await post('/prompt', { prompt: { 1: { inputs: {} } } })
  t.same([noClass.json.error.type, noClass.json.error.details, noClass.json.node_errors], ['invalid_prompt', "Node ID '#1'", {}])
  t.equal((await post('/prompt', { prompt: { 1: { class_type: 'Nope', inputs: {} } } })).json.error.message, 'Cannot execute because node Nope does not exist.')
  t.equal((await post('/prompt', { prompt: { 5: SD15(1)[5] } })).json.error.type, 'prompt_no_outputs')
  const tooBig = SD15(1) as any
  tooBig[5].inputs.width = 20000
  t.equal((await post('/prompt', { prompt: tooBig })).json.node_errors['5'].errors[0].type, 'value_bigger_than_max')
  t.same((await get('/queue')).json, { queue_running: [], queue_pending: [] }, 'nothing was queued')
})

t.test('a normal run sends §2 frames in order and writes history before executing null', async t => {
  const clientId = randomUUID()
  const ws = await WsRecorder.open(`${fake.url.replace('http', 'ws')}/ws?clientId=${clientId}`)
  t.teardown(() => ws.close())
  await ws.waitFor(f => f.type === 'status' && f.data.sid === clientId, 'connect status')
  const id = await runToEnd(ws, { prompt: SD15(11), client_id: clientId, prompt_id: randomUUID() })
  const types = ws.typesFor(id).filter(x => x !== 'progress_state')
  t.same(types.slice(0, 5), ['status', 'status', 'status', 'execution_start', 'execution_cached'])
  t.same(types.slice(-4), ['executed', 'execution_success', 'status', 'executing'])
  t.equal(types.filter(x => x === 'progress').length, 3, 'one progress per sampler step')
  const progress = ws.frames.filter(f => f.type === 'progress' && f.data.prompt_id === id).map(f => f.data.value)
  t.same(progress, [1, 2, 3])
  const history = (await get(`/history/${id}`)).json[id]
  t.equal(history.status.status_str, 'success')
  const images = history.outputs['9'].images
  t.equal(images.length, 2, 'batch of 2')
  t.match(images[0], { filename: /^ComfyUI_\d{5}_\.png$/, subfolder: '', type: 'output' })
  const view = await fetch(`${fake.url}/view?filename=${images[1].filename}&type=output&subfolder=`)
  t.equal(view.headers.get('content-type'), 'image/png')
  t.same(pngSize(Buffer.from(await view.arrayBuffer())), { width: 64, height: 48 })
  t.equal((await fetch(`${fake.url}/api/view?filename=../x.png`)).status, 400, '/api prefix and traversal 400')
  t.equal((await fetch(`${fake.url}/view?filename=nope.png`)).status, 404)

  t.test('the same prompt again is cached: old filenames, no executing for nodes', async t => {
    const again = await runToEnd(ws, { prompt: SD15(11), client_id: clientId, prompt_id: randomUUID() })
    const frames = ws.frames.filter(f => f.data?.prompt_id === again)
    t.same(frames.find(f => f.type === 'execution_cached')!.data.nodes.sort(), ['3', '4', '5', '6', '7', '8', '9'])
    t.notOk(frames.some(f => f.type === 'executing' && f.data.node !== null), 'no executing for a node')
    t.same(frames.find(f => f.type === 'executed')!.data.output.images, images, 'old filenames')
  })
})

t.test('error and interrupt runs end without execution_success', async t => {
  const clientId = randomUUID()
  const ws = await WsRecorder.open(`${fake.url.replace('http', 'ws')}/api/ws?clientId=${clientId}`)
  t.teardown(() => ws.close())
  fake.executor.failOn = { classType: 'VAEDecode', exceptionType: 'torch.OutOfMemoryError', message: 'Allocation on device' }
  const failed = await runToEnd(ws, { prompt: SD15(21), client_id: clientId })
  fake.executor.failOn = null
  const types = ws.typesFor(failed).filter(x => x !== 'progress_state' && x !== 'progress')
  t.same(types.slice(-4), ['executing', 'execution_error', 'status', 'executing'])
  const error = ws.frames.find(f => f.type === 'execution_error')!.data
  t.match(error, { node_id: '8', node_type: 'VAEDecode', exception_type: 'torch.OutOfMemoryError', exception_message: 'Allocation on device\n' })
  const history = (await get(`/history/${failed}`)).json[failed]
  t.same([history.status.status_str, history.status.completed, history.status.messages.at(-1)[0]], ['error', false, 'execution_error'])

  fake.executor.stepMs = 100
  const res = await post('/prompt', { prompt: SD15(22), client_id: clientId })
  const id = res.json.prompt_id
  await ws.waitFor(f => f.type === 'progress' && f.data.prompt_id === id, 'first step')
  t.equal((await post('/interrupt', { prompt_id: 'someone-else' })).status, 200)
  await post('/interrupt', { prompt_id: id })
  await ws.waitFor(f => f.type === 'executing' && f.data.node === null && f.data.prompt_id === id, 'end')
  fake.executor.stepMs = 5
  t.same(ws.typesFor(id).filter(x => x !== 'progress_state' && x !== 'progress').slice(-3), ['execution_interrupted', 'status', 'executing'])
  t.equal((await get(`/history/${id}`)).json[id].status.messages.at(-1)[0], 'execution_interrupted')
})

t.test('queue: pending items can be deleted and never run', async t => {
  fake.hold()
  const a = (await post('/prompt', { prompt: SD15(31) })).json.prompt_id
  const b = (await post('/prompt', { prompt: SD15(32) })).json.prompt_id
  t.same((await get('/queue')).json.queue_pending.map((i: any[]) => i[1]).sort(), [a, b].sort())
  await post('/queue', { delete: [a] })
  fake.release()
  await fake.waitUntil(() => fake.executor.history.has(b), 'b done')
  t.notOk(fake.executor.started.includes(a), 'a never ran')
  t.same((await get(`/history/${a}`)).json, {}, 'and has no history')
})

t.test('frames sent while a socket is away are lost; history still tells the end', async t => {
  const clientId = randomUUID()
  const ws = await WsRecorder.open(`${fake.url.replace('http', 'ws')}/ws?clientId=${clientId}`)
  fake.refuseSockets = true
  fake.dropSockets()
  const id = (await post('/prompt', { prompt: SD15(41), client_id: clientId })).json.prompt_id
  await fake.waitUntil(() => fake.executor.history.has(id), 'run done')
  fake.refuseSockets = false
  t.notOk(ws.frames.some(f => f.data?.prompt_id === id), 'nothing of the run arrived')
  t.equal((await get(`/history/${id}`)).json[id].status.status_str, 'success')
})

t.test('system_stats, object_info in both combo forms, models; a restart loses queue and history', async t => {
  t.equal((await get('/system_stats')).json.system.comfyui_version, '0.8.0')
  t.same((await get('/object_info/CheckpointLoaderSimple')).json.CheckpointLoaderSimple.input.required.ckpt_name[0], fake.models.checkpoints)
  t.same((await get('/object_info/Nope')).json, {})
  fake.comboForm = 'v3'
  t.same((await get('/object_info/UNETLoader')).json.UNETLoader.input.required.unet_name, ['COMBO', { options: fake.models.diffusion_models, multiselect: false }])
  fake.comboForm = 'classic'
  t.ok((await get('/models')).json.includes('checkpoints'))
  t.equal((await get('/models/nope')).status, 404)
  fake.hold()
  const id = (await post('/prompt', { prompt: SD15(51) })).json.prompt_id
  t.ok(Object.keys((await get('/history')).json).length > 0)
  await fake.restart()
  await new Promise(resolve => setTimeout(resolve, 50)) // let the client notice its pooled connections were cut
  fake.release()
  t.same((await get('/queue')).json, { queue_running: [], queue_pending: [] })
  t.same((await get(`/history/${id}`)).json, {})
  t.same((await get('/history')).json, {})
})
