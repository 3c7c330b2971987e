// POST /prompt answers 200 with node_errors when some output nodes validate and others do not (the
// valid ones run). Against the fake ComfyUI, with the model-free templates of the real-ComfyUI group:
// an invalid branch the template does not use leaves the job alone; an invalid output of the
// template's own fails the job and takes the prompt out of ComfyUI before the rest runs.
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { decodePng } from './helpers/png.ts'

const WORKFLOWS_DIR = join(import.meta.dirname, 'fixtures', 'comfyui-real')
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

const fake = new FakeComfyUI({ nodeMs: 2, classMs: { ImageBlur: 300 } })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, { name: 'comfy_branches', workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR } })
await sys.waitForWorkersConnected()

async function run (body: Record<string, unknown>): Promise<any> {
  const res = await sys.submit(body)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  return sys.waitForStatus(res.body.job_id, isEnd)
}

t.test('an invalid branch the template does not use: the job finishes with its own output', async t => {
  const done = await run({ prompt: 'main only', workflow: 'real_unused_invalid', model: 'bilinear', seed: 0x00ff00 })
  t.equal(done.status, 'finished', done.error ?? '')
  const accepted = fake.seen('POST', '/prompt').find(r => r.body.prompt_id === done.job_id)
  t.ok(accepted, 'the prompt went to ComfyUI')
  const png = Buffer.from(await (await fetch(`${sys.baseUrl}${done.image_url}`)).arrayBuffer())
  const image = decodePng(png)
  t.same([image.width, image.height, ...image.pixels.subarray(0, 3)], [96, 96, 0, 255, 0])
  t.same(Object.keys((fake.executor.history.get(done.job_id) as any).outputs), ['9'], 'ComfyUI ran only the valid output')
})

t.test('the template\'s own output invalid: the job fails naming it, and ComfyUI stops the side branch', async t => {
  const done = await run({ prompt: 'main invalid', workflow: 'real_side_branch', model: 'bilinear', seed: 20_000_000 })
  t.equal(done.status, 'failed')
  t.match(done.error, /ComfyUI rejected the workflow: node 1 \(EmptyImage\) input color: Value 20000000 bigger than max of 16777215/)
  await fake.waitUntil(() => fake.executor.running === null, 'the fake to be idle')
  const history = fake.executor.history.get(done.job_id) as any
  const stopped = history === undefined ? 'deleted' : history.status.messages.at(-1)[0]
  t.ok(['deleted', 'execution_interrupted'].includes(stopped), `taken out of ComfyUI (${stopped})`)
  t.notOk([...fake.files.keys()].some(k => k.includes('side_')), 'the side branch saved nothing')
})
