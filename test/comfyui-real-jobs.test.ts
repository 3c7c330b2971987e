// ENGINE=comfyui end to end against a real ComfyUI 0.8.0 (CPU, model-free test templates from
// test/fixtures/comfyui-real via WORKFLOWS_DIR): a normal job whose pixels are the ones ComfyUI
// computed, jobs whose outputs derive from uploaded images (one, and several), a validation error, a
// runtime error, a template beside an invalid or a valid branch it does not use (POST /prompt answers
// 200 with node_errors), a video output, and raw graphs.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { RealComfyUI } from './helpers/real-comfyui.ts'
import { jobEvents } from './helpers/job-events.ts'
import { decodePng } from './helpers/png.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { encodePng } from '../packages/media/src/png.ts'

const WORKFLOWS_DIR = join(import.meta.dirname, 'fixtures', 'comfyui-real')
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

const comfy = await RealComfyUI.start(t)
await comfy.upload('cj-not-an-image.png', Buffer.from('this is text, not a PNG\n'))
const sys = await TestSystem.start(t, {
  name: 'comfy_real_jobs',
  workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: comfy.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR },
  gatewayEnv: { ALLOW_RAW_GRAPHS: 'true', RAW_GRAPH_MAX_BYTES: '65536' }
})
await sys.waitForWorkersConnected()
const grpc = new JobsGrpc(sys.grpcAddress)
t.teardown(() => grpc.client.close())

async function run (body: Record<string, unknown>, timeoutMs = 60_000): Promise<any> {
  const res = await sys.submit(body)
  if (res.status !== 200) throw new Error(`submit refused: ${JSON.stringify(res.body)}`)
  return sys.waitForStatus(res.body.job_id, isEnd, timeoutMs)
}
async function download (url: string): Promise<Buffer> {
  const res = await fetch(`${sys.baseUrl}${url}`)
  if (res.status !== 200) throw new Error(`${url} → ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

t.test('the worker lists the test templates with the upscale methods the real ComfyUI offers as their models', async t => {
  const { workflows } = await (await fetch(`${sys.baseUrl}/api/workflows`)).json()
  const byName = Object.fromEntries(workflows.map((w: any) => [w.name, w.models]))
  t.same(byName.real_image, ['bilinear', 'lanczos'], 'read from the real /object_info/ImageScale')
  t.same(byName.text_to_image, [], 'the real ComfyUI has no model files, so the shipped templates take none')
  t.same(byName.sdxl_text_to_image, [])
})

t.test('a normal job: the PNG is the one ComfyUI wrote, its pixels the seed colour inverted, at the job\'s size', async t => {
  const done = await run({ prompt: 'a red square, inverted', workflow: 'real_image', model: 'lanczos', seed: 0xff0000, aspect_ratio: '16:9' })
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(done.progress, 100)
  const png = await download(done.image_url)
  const written = await comfy.outputs('real')
  t.same(written, ['image_00001_.png'], 'ComfyUI wrote one file')
  t.equal(sha256(png), sha256(await readFile(join(comfy.outputDir, 'real', written[0]))), 'the gateway serves exactly those bytes')
  const image = decodePng(png)
  t.same([image.width, image.height], [1216, 832], 'ImageScale made it 16:9')
  const off = []
  for (let i = 0; i < image.pixels.length; i += 3) {
    if (image.pixels[i] !== 0 || image.pixels[i + 1] !== 255 || image.pixels[i + 2] !== 255) off.push(i / 3)
  }
  t.equal(off.length, 0, 'every pixel is cyan: red 0xff0000 inverted')

  const events = await jobEvents(sys.redisUrl, done.job_id)
  const progress = events.filter(e => e.type === 'progress').map(e => Number(e.progress))
  t.ok(progress.length >= 2, `progress from the real frames (${progress.join(',')})`)
  t.same(progress, [...progress].sort((a, b) => a - b), 'never going back')
  t.ok(events.filter(e => e.type === 'progress').some(e => e.node === 'ImageScale'), 'naming the node that runs')

  const other = await run({ prompt: 'a blue square', workflow: 'real_image', model: 'bilinear', seed: 0x0000ff })
  t.equal(other.status, 'finished', other.error ?? '')
  const blue = decodePng(await download(other.image_url))
  t.same([blue.width, blue.height, ...blue.pixels.subarray(0, 3)], [1024, 1024, 255, 255, 0], 'another seed, another colour: blue inverted is yellow')
})

type Rgb = [number, number, number]
/** A PNG whose left half is one colour and right half another. */
function halves (width: number, height: number, left: Rgb, right: Rgb): Buffer {
  const pixels = new Uint8Array(width * height * 3)
  for (let i = 0; i < width * height; i++) pixels.set(i % width < width / 2 ? left : right, i * 3)
  return encodePng({ width, height, pixels })
}
const solid = (width: number, height: number, rgb: Rgb) => halves(width, height, rgb, rgb)
const pixelAt = (image: { width: number, pixels: Uint8Array }, x: number, y: number) => [...image.pixels.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3)]

async function upload (data: Buffer): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(data)], { type: 'image/png' }), 'input.png')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`)
  return (await res.json() as { name: string }).name
}

t.test('an image input: uploaded, sent to ComfyUI, loaded, scaled and inverted; the output\'s pixels are the upload\'s', async t => {
  const name = await upload(halves(64, 32, [255, 0, 0], [0, 0, 255]))
  const done = await run({ prompt: 'invert my picture', workflow: 'real_image_input', model: 'nearest-exact', inputs: { input: name } })
  t.equal(done.status, 'finished', done.error ?? '')
  t.ok((await readFile(join(comfy.inputDir, name))).equals(halves(64, 32, [255, 0, 0], [0, 0, 255])), `ComfyUI's input folder has the upload under its name (${name})`)
  const image = decodePng(await download(done.image_url))
  t.same([image.width, image.height], [1024, 1024])
  t.same(pixelAt(image, 100, 500), [0, 255, 255], 'the left half was red: now cyan')
  t.same(pixelAt(image, 900, 500), [255, 255, 0], 'the right half was blue: now yellow')

  const other = await run({ prompt: 'another picture', workflow: 'real_image_input', model: 'nearest-exact', inputs: { input: await upload(halves(64, 32, [0, 255, 0], [255, 255, 255])) } })
  const second = decodePng(await download(other.image_url))
  t.same([pixelAt(second, 100, 500), pixelAt(second, 900, 500)], [[255, 0, 255], [0, 0, 0]], 'another upload, other pixels')
})

t.test('several images: three side by side in order; two leave the third loader out of the graph', async t => {
  const [red, green, blue] = await Promise.all(([[255, 0, 0], [0, 255, 0], [0, 0, 255]] as Rgb[]).map(rgb => upload(solid(32, 32, rgb))))
  const three = await run({ prompt: 'three in a row', workflow: 'real_multi_image', model: 'nearest-exact', inputs: { images: [red, green, blue] } })
  t.equal(three.status, 'finished', three.error ?? '')
  const row = decodePng(await download(three.image_url))
  t.same([row.width, row.height], [192, 64])
  t.same([pixelAt(row, 10, 30), pixelAt(row, 100, 30), pixelAt(row, 180, 30)], [[255, 0, 0], [0, 255, 0], [0, 0, 255]], 'red, green, blue, in the order sent')

  const two = await run({ prompt: 'two in a row', workflow: 'real_multi_image', model: 'nearest-exact', inputs: { images: [blue, red] } })
  t.equal(two.status, 'finished', two.error ?? '')
  const pair = decodePng(await download(two.image_url))
  t.same([pair.width, pair.height, pixelAt(pair, 10, 30), pixelAt(pair, 120, 30)], [128, 64, [0, 0, 255], [255, 0, 0]])
})

t.test('a value ComfyUI refuses (400) fails the job naming node, input and reason; nothing runs', async t => {
  const done = await run({ prompt: 'too much colour', workflow: 'real_image', model: 'bilinear', seed: 20_000_000 })
  t.equal(done.status, 'failed')
  t.match(done.error, /ComfyUI rejected the workflow: node 1 \(EmptyImage\) input color: Value 20000000 bigger than max of 16777215/)
  t.same((await comfy.get(`/history/${done.job_id}`)).json, {}, 'ComfyUI has no run of it')
})

t.test('an exception at run time fails the job naming the node and the exception', async t => {
  const done = await run({ prompt: 'a broken file', workflow: 'real_runtime_error', model: 'bilinear', seed: 1 })
  t.equal(done.status, 'failed')
  t.match(done.error, /ComfyUI node 1 \(LoadImage\) raised PIL\.UnidentifiedImageError: cannot identify image file .*cj-not-an-image\.png/)
  t.equal(done.image_url, null)
})

t.test('an invalid branch the template does not use: ComfyUI answers 200 with node_errors, the job runs and finishes', async t => {
  const done = await run({ prompt: 'main branch only', workflow: 'real_unused_invalid', model: 'bilinear', seed: 0x00ff00 })
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(done.outputs.length, 1)
  const image = decodePng(await download(done.image_url))
  t.same([image.width, image.height, ...image.pixels.subarray(0, 3)], [96, 96, 0, 255, 0], 'node 9\'s image')
  const written = await comfy.outputs('real')
  t.ok(written.includes('main_00001_.png'), 'ComfyUI ran the job\'s output')
  t.notOk(written.some(f => f.startsWith('unused')), 'and dropped the invalid branch')
})

t.test('the template\'s own output invalid while a side branch is valid: the job fails and ComfyUI does not run the side branch to its end', async t => {
  const done = await run({ prompt: 'main branch invalid', workflow: 'real_side_branch', model: 'bilinear', seed: 20_000_000 })
  t.equal(done.status, 'failed')
  t.match(done.error, /ComfyUI rejected the workflow: node 1 \(EmptyImage\) input color: Value 20000000 bigger than max of 16777215/)
  t.notMatch(done.error, /node 1[1-9]/, 'names only what the job\'s output depends on')
  await comfy.waitUntil(async () => (await comfy.get('/queue')).json.queue_running.length === 0, 'ComfyUI to be idle')
  const history = (await comfy.get(`/history/${done.job_id}`)).json[done.job_id]
  if (history !== undefined) t.equal(history.status.messages.at(-1)[0], 'execution_interrupted', 'interrupted in ComfyUI')
  else t.pass('deleted from ComfyUI\'s queue before it ran')
  t.notOk((await comfy.outputs('real')).some(f => f.startsWith('side')), 'the side branch saved nothing')
})

t.test('a video output: six frames into SaveWEBM, the WEBM ComfyUI wrote, with its content type', async t => {
  const done = await run({ prompt: 'six green frames', workflow: 'real_video', model: 'bilinear', seed: 0x00ff00 })
  t.equal(done.status, 'finished', done.error ?? '')
  t.equal(done.outputs.length, 1)
  t.same([done.outputs[0].kind, done.outputs[0].mime], ['video', 'video/webm'])
  t.match(done.outputs[0].url, /\.webm$/, 'served under its own extension')
  const video = await download(done.outputs[0].url)
  t.same([...video.subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3], 'an EBML (WEBM) file')
  const written = (await comfy.outputs('real')).filter(f => f.startsWith('video'))
  t.same(written, ['video_00001_.webm'])
  t.equal(sha256(video), sha256(await readFile(join(comfy.outputDir, 'real', written[0]))), 'exactly the bytes ComfyUI wrote')
})

const rawGraph = (color: number) => ({
  1: { class_type: 'EmptyImage', inputs: { width: 40, height: 30, batch_size: 2, color } },
  2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  9: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'raw/inverted' } },
  10: { class_type: 'SaveAnimatedPNG', inputs: { images: ['1', 0], filename_prefix: 'raw/animated', fps: 4, compress_level: 4 } }
})

t.test('a raw graph (workflow_graph) runs as given on the real ComfyUI: every file it saves is an output, over REST and gRPC', async t => {
  const res = await sys.submit({ prompt: 'my own graph', workflow_graph: rawGraph(0xffff00) })
  t.equal(res.status, 200, JSON.stringify(res.body))
  const done = await sys.waitForStatus(res.body.job_id, isEnd, 60_000)
  t.equal(done.status, 'finished', done.error ?? '')
  t.same(done.outputs.map((o: any) => [o.kind, o.mime, o.width, o.height]), [['image', 'image/png', 40, 30], ['image', 'image/png', 40, 30], ['video', 'image/png', 40, 30]],
    'every file the graph saved: node 9\'s two images, then node 10\'s animation')
  t.equal(new Set(done.outputs.map((o: any) => o.url)).size, 3, 'three files')
  const still = decodePng(await download(done.outputs[0].url))
  t.same([...still.pixels.subarray(0, 3)], [0, 0, 255], 'node 2 inverted node 1\'s yellow')
  const row = await sys.row(done.job_id)
  t.same([row.workflow, row.model], ['raw_graph', ''], 'recorded as a raw graph')
  t.same(row.graph, rawGraph(0xffff00), 'with the graph itself')

  const viaGrpc = await grpc.call('Submit', { prompt: 'my own graph over gRPC', workflow_graph_json: JSON.stringify(rawGraph(0x112233)) })
  const grpcDone = await sys.waitForStatus(viaGrpc.job_id, isEnd, 60_000)
  t.equal(grpcDone.status, 'finished', grpcDone.error ?? '')
  t.equal(grpcDone.outputs.length, 3)
})

t.test('a raw graph takes media inputs by loader: node_<id> gets the uploaded file', async t => {
  const name = await upload(halves(32, 16, [0, 0, 0], [255, 255, 255]))
  const graph = {
    5: { class_type: 'LoadImage', inputs: { image: 'not-there.png' } },
    6: { class_type: 'ImageInvert', inputs: { image: ['5', 0] } },
    9: { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'raw/loaded' } }
  }
  const done = await run({ prompt: 'my graph, my picture', workflow_graph: graph, inputs: { node_5: name } })
  t.equal(done.status, 'finished', done.error ?? '')
  const image = decodePng(await download(done.outputs[0].url))
  t.same([image.width, image.height, pixelAt(image, 2, 8), pixelAt(image, 30, 8)], [32, 16, [255, 255, 255], [0, 0, 0]], 'the upload, inverted')
  t.same((await sys.row(done.job_id)).graph, graph, 'the graph is kept as sent; the file travels as an input')

  const wrong = await sys.submit({ prompt: 'no such loader', workflow_graph: graph, inputs: { node_6: name } })
  t.equal(wrong.status, 400)
  t.match(wrong.body.details, [{ field: /inputs\.node_6/ }], 'only a loader node takes a file')
})

t.test('a raw graph the real ComfyUI\'s nodes refuse is a 400 naming the node, leaving nothing behind', async t => {
  const rowsBefore = (await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any)[0][0].n
  const queueBefore = await sys.queueCounts()
  const graph = rawGraph(1) as Record<string, any>
  const cases: Array<[string, Record<string, any>, RegExp, string]> = [
    ['unknown class', { ...graph, 2: { class_type: 'ImageInvertPlus', inputs: { image: ['1', 0] } } }, /node 2 \(ImageInvertPlus\): the workers' ComfyUI has no such node class/, 'workflow_graph.2'],
    ['missing required input', { ...graph, 1: { class_type: 'EmptyImage', inputs: { width: 40, height: 30, batch_size: 1 } } }, /node 1 \(EmptyImage\) input color is required/, 'workflow_graph.1'],
    ['link to a missing node', { ...graph, 2: { class_type: 'ImageInvert', inputs: { image: ['7', 0] } } }, /node 2 \(ImageInvert\) input image links to node 7, which is not in the graph/, 'workflow_graph.2'],
    ['link to a missing output', { ...graph, 2: { class_type: 'ImageInvert', inputs: { image: ['1', 1] } } }, /node 2 \(ImageInvert\) input image links to output 1 of node 1 \(EmptyImage\), which has outputs 0\.\.0/, 'workflow_graph.2'],
    ['a value out of range', { ...graph, 1: { class_type: 'EmptyImage', inputs: { width: 40, height: 30, batch_size: 1, color: 20_000_000 } } }, /node 1 \(EmptyImage\) input color: 20000000 is above the maximum 16777215/, 'workflow_graph.1'],
    ['no output node', { 1: graph[1], 2: graph[2] }, /workflow_graph has no output node/, 'workflow_graph'],
    ['too large', { ...graph, 2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] }, _meta: { title: 'x'.repeat(70_000) } } }, /workflow_graph is \d+ bytes of JSON; at most 65536 are taken \(RAW_GRAPH_MAX_BYTES\)/, 'workflow_graph']
  ]
  for (const [name, workflowGraph, message, field] of cases) {
    const res = await sys.submit({ prompt: name, workflow_graph: workflowGraph })
    t.equal(res.status, 400, name)
    t.equal(res.body.code, 'VALIDATION', name)
    t.match(res.body.details, [{ field, message }], name)
  }
  const grpcRefused = await grpc.fails('Submit', { prompt: 'unknown', workflow_graph_json: JSON.stringify(cases[0][1]) })
  t.equal(grpcRefused.code, 3, 'gRPC: INVALID_ARGUMENT')
  t.match(grpcRefused.details, /ImageInvertPlus/)
  t.equal((await grpc.fails('Submit', { prompt: 'not JSON', workflow_graph_json: '{"1": ' })).code, 3)
  t.equal((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any)[0][0].n, rowsBefore, 'no row')
  t.same(await sys.queueCounts(), queueBefore, 'no queue entry')
})
