// Input files on the comfyui engine, against the fake ComfyUI: the worker fetches each input from the
// gateway over the worker link, uploads it to ComfyUI (POST /upload/image, sounds too) under its
// content-addressed name, and writes that name into the loader the template names; an images input
// with fewer files than slots has the empty slots' loaders removed. Outputs of other media come back
// with their kind. (test/input-feed.test.ts: when the link to the gateway is down.)
import { createHash } from 'node:crypto'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { dataUrl, png, wav } from './helpers/media-files.ts'
import { pngSize } from './helpers/png.ts'
import { runCli as cli } from './helpers/cli-process.ts'

const CHECKPOINT = { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } }
const MODEL = { model: { node: '1', input: 'ckpt_name' } }
const MODELS = { sd15: { file: 'v1-5-pruned-emaonly.safetensors' } }
const STITCH = { direction: 'right', match_image_size: true, spacing_width: 0, spacing_color: 'white' }
const TEMPLATES: Record<string, { graph: unknown, manifest: unknown }> = {
  edit_passthrough: {
    graph: { 1: CHECKPOINT, 2: { class_type: 'LoadImage', inputs: { image: 'example.png' } }, 3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inputs/edit' } } },
    manifest: { prompt: 'none', media: { input: { kind: 'image', target: { node: '2', input: 'image' } } }, inputs: MODEL, models: MODELS, outputs: ['3'] }
  },
  blend_stitch: {
    graph: {
      1: CHECKPOINT,
      11: { class_type: 'LoadImage', inputs: { image: 'a.png' } },
      12: { class_type: 'LoadImage', inputs: { image: 'b.png' } },
      13: { class_type: 'LoadImage', inputs: { image: 'c.png' } },
      21: { class_type: 'ImageStitch', inputs: { image1: ['11', 0], image2: ['12', 0], ...STITCH } },
      22: { class_type: 'ImageStitch', inputs: { image1: ['21', 0], image2: ['13', 0], ...STITCH } },
      3: { class_type: 'SaveImage', inputs: { images: ['22', 0], filename_prefix: 'inputs/blend' } }
    },
    manifest: {
      prompt: 'none',
      media: { images: { kind: 'images', min: 1, max: 3, members: ['source', 'target', 'extra'], slots: ['11', '12', '13'].map(node => ({ node, input: 'image' })) } },
      inputs: MODEL,
      models: MODELS,
      outputs: ['3']
    }
  },
  avatar_frames: {
    graph: {
      1: CHECKPOINT,
      2: { class_type: 'LoadImage', inputs: { image: 'avatar.png' } },
      4: { class_type: 'LoadAudio', inputs: { audio: 'speech.wav' } },
      3: { class_type: 'SaveAnimatedPNG', inputs: { images: ['2', 0], filename_prefix: 'inputs/avatar', fps: 6, compress_level: 4 } }
    },
    manifest: {
      prompt: 'none',
      media: { avatar: { kind: 'image', target: { node: '2', input: 'image' } }, audio: { kind: 'audio', target: { node: '4', input: 'audio' } } },
      inputs: MODEL,
      models: MODELS,
      outputs: ['3']
    }
  }
}

const workflowsDir = await mkdtemp(join(tmpdir(), 'cj-input-templates-'))
const uploadDir = await mkdtemp(join(tmpdir(), 'cj-input-uploads-'))
t.teardown(() => Promise.all([rm(workflowsDir, { recursive: true, force: true }), rm(uploadDir, { recursive: true, force: true })]))
for (const [name, { graph, manifest }] of Object.entries(TEMPLATES)) {
  await mkdir(join(workflowsDir, name))
  await writeFile(join(workflowsDir, name, 'graph.json'), JSON.stringify(graph))
  await writeFile(join(workflowsDir, name, 'manifest.json'), JSON.stringify(manifest))
}

const fake = new FakeComfyUI({ stepMs: 1, nodeMs: 1, models: { checkpoints: ['v1-5-pruned-emaonly.safetensors'] } })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, {
  name: 'comfy_inputs',
  workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR: workflowsDir },
  gatewayEnv: { UPLOAD_DIR: uploadDir }
})
await sys.waitForWorkersConnected()

const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function upload (bytes: Buffer): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), 'photo')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
  return (await res.json() as { name: string }).name
}

async function run (body: Record<string, unknown>): Promise<{ status: any, graph: any }> {
  const res = await sys.submit(body)
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  const status = await sys.waitForStatus(res.body.job_id, isEnd)
  const graph = fake.seen('POST', '/prompt').find(r => r.body.prompt_id === res.body.job_id)?.body.prompt
  return { status, graph }
}

async function download (url: string): Promise<Buffer> {
  return Buffer.from(await (await fetch(`${sys.baseUrl}${url}`)).arrayBuffer())
}

const photo = png(64, 48, 3)
const photoName = `${sha(photo)}.png`

t.test('an uploaded image reaches the LoadImage node the manifest names, as ComfyUI stored it', async t => {
  t.equal(await upload(photo), photoName)
  const { status, graph } = await run({ workflow: 'edit_passthrough', inputs: { input: photoName } })
  t.equal(status.status, 'finished', status.error ?? '')
  t.equal(graph['2'].inputs.image, photoName, 'the loader takes the upload by its content-addressed name')
  t.ok(fake.inputFile(photoName)?.equals(photo), 'ComfyUI received exactly the uploaded bytes under that name')
  const uploads = fake.seen('POST', '/upload/image')
  t.match(uploads[uploads.length - 1].body, { type: 'input', overwrite: 'true', image: '(file)' }, 'into its input folder, overwriting')
  t.same(pngSize(await download(status.image_url)), { width: 64, height: 48 }, 'the output is the size of the input')
})

t.test('the same image inline, and again: one file in ComfyUI, not a pile of copies', async t => {
  const { status, graph } = await run({ workflow: 'edit_passthrough', images: { input: dataUrl(photo) } })
  t.equal(status.status, 'finished', status.error ?? '')
  t.equal(graph['2'].inputs.image, photoName, 'a data: URL becomes the same stored upload')
  await run({ workflow: 'edit_passthrough', inputs: { input: photoName } })
  t.same(fake.inputFiles.filter(f => f.includes(sha(photo))), [photoName], 'one file for the three jobs')
})

t.test('fewer images than slots: the empty slots\' loaders are removed, with the links to them', async t => {
  const second = png(30, 20, 4)
  const { status, graph } = await run({ workflow: 'blend_stitch', images: { source: dataUrl(photo), target: dataUrl(second) } })
  t.equal(status.status, 'finished', status.error ?? '')
  t.equal(graph['11'].inputs.image, photoName, 'source in the first slot')
  t.equal(graph['12'].inputs.image, `${sha(second)}.png`, 'target in the second')
  t.notOk('13' in graph, 'the third slot\'s loader is gone')
  t.notOk('image2' in graph['22'].inputs, 'and the optional input that linked to it')
  t.same(pngSize(await download(status.image_url)), { width: 94, height: 48 }, 'the two images side by side')
})

t.test('a sound goes up like an image, and an animated output comes back as a video', async t => {
  const speech = wav(300)
  const { status, graph } = await run({ workflow: 'avatar_frames', images: { avatar: dataUrl(photo) }, audio: dataUrl(speech, 'audio/wav') })
  t.equal(status.status, 'finished', status.error ?? '')
  t.equal(graph['4'].inputs.audio, `${sha(speech)}.wav`, 'LoadAudio takes the sound by its name')
  t.ok(fake.inputFile(`${sha(speech)}.wav`)?.equals(speech), 'ComfyUI received the sound')
  t.match(status.outputs, [{ index: 0, kind: 'video', mime: 'image/png', width: 64, height: 48 }], 'an animated PNG: kind video, type image/png')
  const [[row]] = await sys.db.pool.query('SELECT kind, mime FROM outputs WHERE job_id = ?', [status.job_id]) as any
  t.same({ ...row }, { kind: 'video', mime: 'image/png' }, 'recorded with its kind')
})

t.test('the CLI uploads --input files and saves what the job made', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cj-cli-inputs-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const a = png(20, 10, 7)
  const b = png(8, 10, 8)
  await writeFile(join(dir, 'a.png'), a)
  await writeFile(join(dir, 'b.png'), b)
  const run = await cli(['generate', '--workflow', 'blend_stitch', '--input', 'images=a.png', '--input', 'images=b.png', '--wait', '--url', sys.baseUrl], { cwd: dir })
  t.equal(run.code, 0, run.stderr.slice(-400))
  const jobId = run.stdout.trim()
  const graph = fake.seen('POST', '/prompt').find(r => r.body.prompt_id === jobId)!.body.prompt
  t.same([graph['11'].inputs.image, graph['12'].inputs.image], [`${sha(a)}.png`, `${sha(b)}.png`], 'both files, in order')
  t.same(pngSize(await readFile(join(dir, `${jobId}.png`))), { width: 28, height: 10 }, 'the output saved under its own name')
  const missing = await cli(['generate', '--workflow', 'blend_stitch', '--input', 'images=nope.png', '--url', sys.baseUrl], { cwd: dir })
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--input images: cannot read nope\.png: ENOENT/)
})
