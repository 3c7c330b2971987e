// Workflow templates: each shipped template gets the job's values in exactly the right inputs of the
// graph sent to /prompt, a user template in WORKFLOWS_DIR runs too, and a broken template (or bad
// ComfyUI configuration) stops the worker at start naming the template and the fault.
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { runWorkerUntilExit } from './helpers/worker-process.ts'

const SHIPPED = join(import.meta.dirname, '..', 'services', 'worker', 'workflows')
const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'))
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

const userDir = await mkdtemp(join(tmpdir(), 'cj-workflows-'))
t.teardown(() => rm(userDir, { recursive: true, force: true }))
async function writeTemplate (dir: string, name: string, graph: unknown, manifest: unknown): Promise<void> {
  await mkdir(join(dir, name), { recursive: true })
  await writeFile(join(dir, name, 'graph.json'), typeof graph === 'string' ? graph : JSON.stringify(graph))
  await writeFile(join(dir, name, 'manifest.json'), JSON.stringify(manifest))
}

const sdxlGraph = await readJson(join(SHIPPED, 'sdxl_text_to_image', 'graph.json'))
const sdxlManifest = await readJson(join(SHIPPED, 'sdxl_text_to_image', 'manifest.json'))
await writeTemplate(userDir, 'sd15_sketch', { ...sdxlGraph, 9: { class_type: 'SaveImage', inputs: { filename_prefix: 'sketches/sd15', images: ['8', 0] } } },
  { ...sdxlManifest, models: { sd15: { file: 'v1-5-pruned-emaonly.safetensors' } } })

const fake = new FakeComfyUI({ stepMs: 1, nodeMs: 1 })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, { name: 'comfy_templates', workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR: userDir } })
await sys.waitForWorkersConnected()

async function sentGraph (body: Record<string, unknown>): Promise<{ graph: any, request: any, status: any }> {
  const res = await sys.submit(body)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const status = await sys.waitForStatus(res.body.job_id, isEnd)
  const request = fake.seen('POST', '/prompt').find(r => r.body.prompt_id === res.body.job_id)!.body
  return { graph: request.prompt, request, status }
}

// For each shipped template: a job, and the inputs of graph.json it must change (and nothing else).
const INJECTION_CASES = [
  {
    workflow: 'text_to_image',
    body: { prompt: 'a tram in the rain', seed: 4000000001, aspect_ratio: '9:16', batch_size: 2, model: 'turbo_fp8' },
    changed: { 27: { text: 'a tram in the rain' }, 3: { seed: 4000000001 }, 13: { width: 832, height: 1216, batch_size: 2 }, 28: { unet_name: 'z-image/z-image-turbo-fp8-e4m3fn.safetensors' } }
  },
  {
    workflow: 'sdxl_text_to_image',
    body: { prompt: 'a glass castle', seed: 77, aspect_ratio: '16:9', batch_size: 1, workflow: 'sdxl_text_to_image', model: 'sdxl_base' },
    changed: { 6: { text: 'a glass castle' }, 3: { seed: 77 }, 5: { width: 1216, height: 832, batch_size: 1 }, 4: { ckpt_name: 'sd_xl_base_1.0.safetensors' } }
  }
]

for (const { workflow, body, changed } of INJECTION_CASES) {
  t.test(`${workflow}: prompt, seed, size, batch and model file in their inputs, nothing else changed`, async t => {
    const { graph, request, status } = await sentGraph(body)
    t.equal(status.status, 'finished', status.error ?? '')
    const expected = await readJson(join(SHIPPED, workflow, 'graph.json'))
    for (const [node, inputs] of Object.entries(changed)) Object.assign(expected[node].inputs, inputs)
    t.same(graph, expected, 'the template graph with exactly those inputs changed')
    t.equal(request.prompt_id, status.job_id, 'our job id is the prompt id')
    t.match(request.client_id, /^comfy-jobs-/, 'with the worker\'s own client id')
  })
}

t.test('the alias z_image_turbo loads the same file as turbo_fp8', async t => {
  const alias = await sentGraph({ prompt: 'alias', seed: 1, model: 'z_image_turbo' })
  t.equal(alias.graph['28'].inputs.unet_name, 'z-image/z-image-turbo-fp8-e4m3fn.safetensors')
})

t.test('a template from WORKFLOWS_DIR is listed and runs (outputs in a subfolder)', async t => {
  const workflows = await (await fetch(`${sys.baseUrl}/api/workflows`)).json()
  const shipped = (await readdir(SHIPPED)).sort()
  t.same(workflows.workflows.map((w: any) => w.name), [...shipped, 'sd15_sketch'].sort(), 'the shipped templates and the user\'s')
  t.same(workflows.workflows.find((w: any) => w.name === 'sd15_sketch').models, ['sd15'])
  const { graph, status } = await sentGraph({ prompt: 'a pencil fox', seed: 3, workflow: 'sd15_sketch', model: 'sd15' })
  t.equal(status.status, 'finished', status.error ?? '')
  t.equal(graph['4'].inputs.ckpt_name, 'v1-5-pruned-emaonly.safetensors')
  t.ok(fake.seen('GET', '/view').some(r => r.query.get('subfolder') === 'sketches'), 'fetched from its subfolder')
})

t.test('the worker refuses to start on a broken template, naming it and the fault', async t => {
  const zGraph = await readJson(join(SHIPPED, 'text_to_image', 'graph.json'))
  const zManifest = await readJson(join(SHIPPED, 'text_to_image', 'manifest.json'))
  const noOutput = { ...zGraph }
  delete noOutput['9']
  delete noOutput['8']
  const cases: Array<[string, unknown, unknown, RegExp]> = [
    ['missing_node', zGraph, { ...zManifest, inputs: { ...zManifest.inputs, seed: { node: '99', input: 'seed' } } }, /workflow template "missing_node" .*manifest inputs\.seed points at node "99", which is not in the graph/],
    ['missing_input', zGraph, { ...zManifest, inputs: { ...zManifest.inputs, prompt: { node: '27', input: 'txt' } } }, /workflow template "missing_input" .*input "txt" of node "27" \(CLIPTextEncode\), which has no such input/],
    ['no_output', noOutput, { ...zManifest, outputs: undefined }, /workflow template "no_output" .*the graph has no output node/],
    ['bad_json', '{"3": ', zManifest, /workflow template "bad_json" .*graph\.json.*not valid JSON/],
    ['no_models', zGraph, { ...zManifest, models: {} }, /workflow template "no_models" .*manifest models must name at least one model/]
  ]
  const results = await Promise.all(cases.map(async ([name, graph, manifest]) => {
    const dir = await mkdtemp(join(tmpdir(), 'cj-broken-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await writeTemplate(dir, name, graph, manifest)
    // Five workers start at once: on a loaded 2-core machine that can take longer than the helper's
    // default 15 s before the first log line. The bound is only for a worker that never exits.
    return runWorkerUntilExit({ ENGINE: 'comfyui', COMFYUI_URL: fake.url, WORKFLOWS_DIR: dir, WORKER_GRPC_PORT: '0', QUEUE_NAME: `t-broken-${name}` }, 60_000)
  }))
  for (const [i, [name, , , message]] of cases.entries()) {
    t.equal(results[i].code, 1, `${name}: exits 1`)
    t.match(results[i].output, message, `${name}: names the template and the fault`)
  }
})

t.test('bad ComfyUI settings stop the worker naming the variable', async t => {
  const bad = [['COMFYUI_URL', 'ftp://host'], ['JOB_TIMEOUT_MS', '12s'], ['WORKFLOWS_DIR', '/nonexistent/templates']]
  // three at once: the same allowance as above
  const results = await Promise.all(bad.map(([name, value]) => runWorkerUntilExit({ ENGINE: 'comfyui', WORKER_GRPC_PORT: '0', QUEUE_NAME: 't-badcfg', [name]: value }, 60_000)))
  for (const [i, [name]] of bad.entries()) {
    t.equal(results[i].code, 1, `${name}: exits 1`)
    t.match(results[i].output, new RegExp(`${name}=`), `${name}: the message names it`)
  }
})
