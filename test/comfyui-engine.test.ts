// ENGINE=comfyui through the whole system against the fake ComfyUI: submit via REST, watch the
// status, get the PNG. Normal, cached, failing and rejected runs; what the workers can run.
import t from 'tap'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI, DEFAULT_MODELS } from './fakes/comfyui/fake-comfyui.ts'
import { jobEvents } from './helpers/job-events.ts'
import { pngSize } from './helpers/png.ts'

const fake = new FakeComfyUI({ stepMs: 40, nodeMs: 2, models: { checkpoints: ['v1-5-pruned-emaonly.safetensors'] } })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, { name: 'comfy_engine', workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200' } })
await sys.waitForWorkersConnected()

const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)
async function image (url: string): Promise<Buffer> {
  const res = await fetch(`${sys.baseUrl}${url}`)
  if (res.status !== 200) throw new Error(`${url} → ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

t.test('the gateway lists what the worker can run: templates × models ComfyUI has', async t => {
  const workflows = await (await fetch(`${sys.baseUrl}/api/workflows`)).json()
  const shipped = (await readdir(join(import.meta.dirname, '..', 'services', 'worker', 'workflows'))).sort()
  // ComfyUI has the Z-Image file only: every other template is listed with no model it can load
  t.same(workflows.workflows.map((w: any) => [w.name, w.models]), shipped.map(name => [name, name === 'text_to_image' ? ['turbo_fp8', 'z_image_turbo'] : []]))
  const models = await (await fetch(`${sys.baseUrl}/api/models`)).json()
  // the original's shape: text to image loads a diffusion model, its default first
  t.same(models, { models: [], unet_models: ['turbo_fp8', 'z_image_turbo'] })
  const health = await (await fetch(`${sys.baseUrl}/api/health`)).json()
  t.equal(health.status, 'ok')
  t.equal(health.workers.list[0].ready, true, 'the worker is ready while ComfyUI answers')
})

t.test('a model ComfyUI does not have is a 400 at submit, leaving nothing behind', async t => {
  const res = await sys.submit({ prompt: 'a castle', workflow: 'sdxl_text_to_image', model: 'sdxl_base' })
  t.equal(res.status, 400)
  t.equal(res.body.code, 'VALIDATION')
  t.match(res.body.details, [{ field: 'model', message: /unknown model "sdxl_base"/ }])
  const wrongPair = await sys.submit({ prompt: 'a castle', workflow: 'sdxl_text_to_image', model: 'turbo_fp8' })
  t.equal(wrongPair.status, 400)
  t.match(wrongPair.body.details, [{ field: 'model', message: /workflow "sdxl_text_to_image" does not take model "turbo_fp8"/ }])
  const unknown = await sys.submit({ prompt: 'a castle', workflow: 'inpaint' })
  t.match(unknown.body.details, [{ field: 'workflow', message: /unknown workflow "inpaint"/ }])
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  t.equal(Number(rows[0].n), 0, 'no row')
  t.equal(fake.seen('POST', '/prompt').length, 0, 'nothing reached ComfyUI')
})

let firstPng: Buffer
t.test('a normal run finishes with its PNG and a monotonic progress with step, total_steps and node', async t => {
  const res = await sys.submit({ prompt: 'a lighthouse at dusk', aspect_ratio: '16:9', seed: 5 })
  t.equal(res.status, 200)
  const id = res.body.job_id
  const done = await sys.waitForStatus(id, isEnd)
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(done.progress, 100)
  t.equal(done.total_steps, 8, 'the template samples 8 steps')
  t.equal(done.image_url, `/outputs/${id}.png`)
  firstPng = await image(done.image_url)
  t.same(pngSize(firstPng), { width: 1216, height: 832 }, 'the image ComfyUI made, 16:9')
  t.match(firstPng.toString('latin1'), /fake ComfyUI/, 'bytes are those the fake wrote')

  const events = await jobEvents(sys.redisUrl, id)
  const progress = events.filter(e => e.type === 'progress')
  const values = progress.map(e => Number(e.progress))
  t.ok(values.length >= 8, `at least one progress event per step (${values.length})`)
  t.same(values, [...values].sort((a, b) => a - b), `progress never goes back: ${values.join(',')}`)
  t.ok(values.every(v => v >= 0 && v < 100), 'below 100 until finished')
  t.ok(new Set(values).size >= 6, 'and moves in many small steps')
  const sampling = progress.filter(e => e.node === 'KSampler').map(e => Number(e.step))
  t.same(sampling, [...sampling].sort((a, b) => a - b), 'steps count up while KSampler runs')
  t.ok([1, 2, 3, 4, 5, 6, 7].every(s => sampling.includes(s)), `every sampler step reported (${sampling.join(',')})`)
  t.ok(progress.every(e => e.total_steps === '8'))
  const nodes = new Set(progress.map(e => e.node))
  for (const node of ['UNETLoader', 'KSampler', 'VAEDecode']) t.ok(nodes.has(node), `node ${node} reported (${[...nodes].join(', ')})`)
  t.equal(events.at(-1)!.type, 'finished')
})

t.test('the same job again runs from ComfyUI\'s cache and still finishes with its outputs', async t => {
  const res = await sys.submit({ prompt: 'a lighthouse at dusk', aspect_ratio: '16:9', seed: 5 })
  const id = res.body.job_id
  const done = await sys.waitForStatus(id, isEnd)
  t.equal(done.status, 'finished', done.error ?? '')
  const history = fake.executor.history.get(id) as any
  t.equal(history.status.messages.find((m: any) => m[0] === 'execution_cached')[1].nodes.length, 10, 'ComfyUI ran nothing: every node cached')
  t.ok((await image(done.image_url)).equals(firstPng), 'the earlier file, fetched again')
})

t.test('a batch of 2 gives two PNGs', async t => {
  const res = await sys.submit({ prompt: 'two owls', batch_size: 2, aspect_ratio: '2:3', seed: 6, model: 'z_image_turbo' })
  const done = await sys.waitForStatus(res.body.job_id, isEnd)
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(done.outputs.length, 2)
  const [a, b] = await Promise.all(done.outputs.map((o: any) => image(o.url)))
  t.same([pngSize(a), pngSize(b)], [{ width: 832, height: 1248 }, { width: 832, height: 1248 }])
  t.notOk(a.equals(b), 'two different images')
})

t.test('an execution_error fails the job naming the node type and the exception', async t => {
  fake.executor.failOn = { classType: 'VAEDecode', exceptionType: 'torch.OutOfMemoryError', message: 'Allocation on device 0 would exceed allowed memory. This error means you ran out of memory on your GPU.' }
  t.teardown(() => { fake.executor.failOn = null })
  const res = await sys.submit({ prompt: 'an error', seed: 7 })
  const done = await sys.waitForStatus(res.body.job_id, isEnd)
  t.equal(done.status, 'failed')
  t.match(done.error, /node 8 \(VAEDecode\) raised torch\.OutOfMemoryError: Allocation on device 0/)
  t.equal(done.image_url, null)
})

t.test('a workflow ComfyUI rejects (400) fails the job naming node, input and reason', async t => {
  fake.samplers = ['euler', 'dpmpp_2m']
  t.teardown(() => { fake.samplers = ['euler', 'euler_ancestral', 'dpmpp_2m', 'res_multistep'] })
  const res = await sys.submit({ prompt: 'rejected', seed: 8 })
  const done = await sys.waitForStatus(res.body.job_id, isEnd)
  t.equal(done.status, 'failed')
  t.match(done.error, /ComfyUI rejected the workflow: node 3 \(KSampler\) input sampler_name: Value not in list \(sampler_name: 'res_multistep' not in \['euler', 'dpmpp_2m'\]\)/)
})

t.test('a model file removed after the worker listed it fails the job as a missing model', async t => {
  fake.models.diffusion_models = ['z_image_turbo_bf16.safetensors']
  t.teardown(() => { fake.models.diffusion_models = [...DEFAULT_MODELS.diffusion_models] })
  const res = await sys.submit({ prompt: 'no model', seed: 9 })
  t.equal(res.status, 200, 'the worker still lists it (it re-reads the lists every 30 s)')
  const done = await sys.waitForStatus(res.body.job_id, isEnd)
  t.equal(done.status, 'failed')
  t.match(done.error, /missing model: node 28 \(UNETLoader\) input unet_name: Value not in list \(unet_name: 'z-image\/z-image-turbo-fp8-e4m3fn\.safetensors' not in/)
})
