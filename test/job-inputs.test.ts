// I5 and I6 for media inputs at submit: each is checked against what its workflow declares (exists, right kind,
// bytes and pixels from the header, how many) and a refusal names the field and writes nothing: no
// row, no queue entry, no status key, no stored file. An accepted job carries references only — never
// the bytes — in its row and its queue message, and its request hash covers its inputs.
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import t from 'tap'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { countKeys } from './helpers/redis-keys.ts'
import { FakeComfyUI, DEFAULT_MODELS } from './fakes/comfyui/fake-comfyui.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { dataUrl, png, pngHeaderClaiming, wav } from './helpers/media-files.ts'

const redis = new PrivateRedis()
await redis.start()
t.teardown(() => redis.stop())
const uploadDir = await mkdtemp(join(tmpdir(), 'cj-inputs-'))
t.teardown(() => rm(uploadDir, { recursive: true, force: true, maxRetries: 5 }))
// ComfyUI has the models of the Qwen and Wan templates, so those workflows are runnable; the fake
// knows none of their nodes, and holds its queue, so no job here gets further than being queued.
const fake = new FakeComfyUI({
  models: {
    diffusion_models: [...DEFAULT_MODELS.diffusion_models, 'qwen_image_edit_2509_fp8_e4m3fn.safetensors', 'wan2.1_vace_1.3B_fp16.safetensors', 'wan2.2_s2v_14B_fp8_scaled.safetensors']
  }
})
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, {
  name: 'job_inputs',
  redisUrl: redis.url,
  workers: 1,
  workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200' },
  gatewayEnv: { UPLOAD_DIR: uploadDir, UPLOAD_MAX_BYTES: String(20 * 1024), INPUT_MAX_PIXELS: String(4096 * 4096) }
})
await sys.waitForWorkersConnected()
const client = new Redis(redis.url)
t.teardown(() => client.disconnect())
const grpcJobs = new JobsGrpc(sys.grpcAddress)
t.teardown(() => grpcJobs.client.close())

async function upload (bytes: Buffer): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), 'file.bin')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
  const body = await res.json() as { name: string }
  if (res.status !== 200) throw new Error(JSON.stringify(body))
  return body.name
}

async function counts (): Promise<{ rows: number, queued: number, statusKeys: number, files: string[] }> {
  const [[{ n }]] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  const queue = await sys.queueCounts()
  const statusKeys = await countKeys(client, 'job:status:*')
  return { rows: Number(n), queued: Object.values(queue).reduce((a, b) => a + b, 0), statusKeys, files: (await readdir(uploadDir)).sort() }
}

fake.hold()
const photo = await upload(png(64, 48, 1))
const other = await upload(png(32, 32, 2))
const speech = await upload(wav(200))
const MISSING = `${'ab'.repeat(32)}.png`
const HUGE = dataUrl(pngHeaderClaiming(100000, 100000))

t.test('GET /api/workflows lists every workflow with its inputs, their limits and models', async t => {
  const { workflows } = await (await fetch(`${sys.baseUrl}/api/workflows`)).json() as { workflows: any[] }
  t.ok(workflows.length >= 10, `${workflows.length} workflows`)
  const byName = Object.fromEntries(workflows.map(w => [w.name, w]))
  for (const name of ['text_to_image', 'single_image_edit', 'face_swap', 'multi_image_blend', 'sketch_to_image', 'upscale', 'image_to_video', 'text_to_video', 'first_last_frame_video', 'talking_avatar']) {
    t.ok(byName[name], `${name} is listed`)
    t.ok(byName[name].model_files.length > 0, `${name} names the model files it needs`)
  }
  t.match(byName.single_image_edit, {
    prompt: 'required',
    max_prompts: 0,
    models: ['qwen_image_edit'],
    inputs: [{ name: 'input', kind: 'image', required: true, min: 1, max: 1, accepts: ['image/png', 'image/jpeg', 'image/webp'], max_bytes: 20 * 1024, max_pixels: 4096 * 4096 }]
  })
  t.match(byName.multi_image_blend.inputs, [{ name: 'images', kind: 'images', min: 2, max: 5, members: ['source', 'target', 'extra'] }])
  t.match(byName.image_to_video, { max_prompts: 10, inputs: [{ name: 'shots', kind: 'images', min: 1, max: 5, members: ['shot1', 'shot2', 'shot3', 'shot4', 'shot5'] }] })
  t.match(byName.talking_avatar, { prompt: 'optional', inputs: [{ name: 'avatar', kind: 'image' }, { name: 'audio', kind: 'audio', accepts: ['audio/wav', 'audio/mpeg', 'audio/flac', 'audio/ogg'] }] })
  t.match(byName.upscale, { prompt: 'none', inputs: [{ name: 'input', kind: 'image' }] })
  t.same(byName.text_to_image.inputs, [])
})

t.test('bad inputs are 400s naming the field, and leave no row, queue entry, status key or file', async t => {
  const before = await counts()
  const edit = (extra: Record<string, unknown>) => ({ workflow: 'single_image_edit', prompt: 'make it blue', ...extra })
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a required input missing', edit({}), 'inputs.input', /inputs\.input is required: workflow "single_image_edit" needs an image/],
    ['a required input missing (the original page\'s form)', edit({ images: { input: null } }), 'images.input', /images\.input is required/],
    ['a sound where an image is wanted', edit({ images: { input: speech } }), 'images.input', /images\.input is audio\/wav, but input "input" takes an image/],
    ['an image where a sound is wanted', { workflow: 'talking_avatar', inputs: { avatar: photo, audio: other } }, 'inputs.audio', /is image\/png, but input "audio" takes a sound/],
    ['an upload that does not exist', edit({ inputs: { input: MISSING } }), 'inputs.input', /names no stored upload/],
    ['a PNG header declaring 100000×100000', edit({ images: { input: HUGE } }), 'images.input', /images\.input is an image of 100000×100000 pixels/],
    ['a data: URL that is not base64', edit({ images: { input: 'data:image/png;base64,iVBOR*w0KGgo=' } }), 'images.input', /not valid base64/],
    ['a data: URL without ;base64', edit({ images: { input: 'data:image/png,%89PNG' } }), 'images.input', /without ;base64/],
    ['a data: URL of a text file', edit({ images: { input: dataUrl(Buffer.from('hello, not an image'), 'image/png') } }), 'images.input', /is not a PNG, JPEG or WebP image/],
    ['a data: URL over the byte limit', edit({ images: { input: dataUrl(Buffer.alloc(30 * 1024, 1)) } }), 'images.input', /larger than 20480 bytes/],
    ['a URL to fetch', edit({ inputs: { input: 'https://example.com/cat.png' } }), 'inputs.input', /URLs are never fetched/],
    ['an unknown input name', edit({ images: { input: photo, mask: photo } }), 'images.mask', /has no input "mask"; it takes: input/],
    ['one input given twice', edit({ inputs: { input: photo }, images: { input: other } }), 'images.input', /given twice/],
    ['a list for a one-file input', edit({ inputs: { input: [photo, other] } }), 'inputs.input', /takes one file, got a list of 2/],
    ['too many images', { workflow: 'multi_image_blend', inputs: { images: [photo, other, photo, other, photo, other] } }, 'inputs.images', /takes at most 5 images as "images", got 6/],
    ['too few images', { workflow: 'multi_image_blend', images: { source: photo } }, 'images.target', /images\.target is required: workflow "multi_image_blend" needs at least 2 images/],
    ['prompts where the workflow takes none', edit({ inputs: { input: photo }, prompts: ['a', 'b'] }), 'prompts', /takes no prompts list/],
    ['11 prompts', { workflow: 'image_to_video', prompt: 'x', inputs: { shots: [photo] }, prompts: Array(11).fill('a') }, 'prompts', /prompts/],
    ['audio where the workflow takes none', edit({ inputs: { input: photo }, audio: speech }), 'audio', /takes no audio/],
    ['the avatar\'s audio missing (the original page\'s form)', { workflow: 'talking_avatar', images: { avatar: dataUrl(png(8, 8)) } }, 'audio', /audio is required: workflow "talking_avatar" needs an audio file/],
    ['a prompt missing where required', { workflow: 'single_image_edit', inputs: { input: photo } }, 'prompt', /prompt is required/]
  ]
  for (const [what, body, field, message] of cases) {
    const res = await sys.submit(body)
    t.equal(res.status, 400, `${what}: 400`)
    t.equal(res.body.code, 'VALIDATION', `${what}: VALIDATION`)
    t.ok(res.body.details?.some((d: any) => d.field === field), `${what}: names ${field} (${JSON.stringify(res.body.details?.map((d: any) => d.field))})`)
    t.match(res.body.error, message, `${what}: says why`)
  }
  const err = await grpcJobs.fails('Submit', { workflow: 'single_image_edit', prompt: 'x', inputs: { input: { files: [{ data: pngHeaderClaiming(100000, 100000) }] } } })
  t.equal(err.code, grpc.status.INVALID_ARGUMENT, 'gRPC: the same check on bytes')
  t.match(err.details, /inputs\.input is an image of 100000×100000 pixels/)
  t.same(await counts(), before, 'no row, no queue entry, no status key, no file')
})

t.test('accepted inputs travel as references: never bytes in the row or the queue message', async t => {
  const inline = png(40, 30, 9)
  const name = `${createHash('sha256').update(inline).digest('hex')}.png`
  const before = await counts()
  const res = await sys.submit({ workflow: 'single_image_edit', prompt: 'make it blue', images: { input: dataUrl(inline) } })
  t.equal(res.status, 200, JSON.stringify(res.body))
  const id = res.body.job_id
  t.ok((await readFile(join(uploadDir, name))).equals(inline), 'the data: URL is stored as an upload, by content hash')
  t.same((await counts()).files, [...before.files, name].sort(), 'and nothing else')
  const [[row]] = await sys.db.pool.query('SELECT inputs, LENGTH(inputs) AS len FROM jobs WHERE id = ?', [id]) as any
  const inputs = typeof row.inputs === 'string' ? JSON.parse(row.inputs) : row.inputs
  t.same(inputs, { input: { name, kind: 'image', mime: 'image/png', bytes: inline.length, width: 40, height: 30 } }, 'the row holds the reference')
  t.ok(Number(row.len) < 300, `… and no bytes (${row.len} characters)`)
  const data = await client.hget(`bull:${sys.queueName}:${id}`, 'data')
  t.same(JSON.parse(data!).inputs, inputs, 'the queue message holds the same reference')
  t.notOk(data!.includes(inline.toString('base64').slice(0, 40)), 'and not the bytes')
  t.ok(data!.length < 1000, `a small message (${data!.length} bytes)`)

  const byGrpc = await grpcJobs.call('Submit', { workflow: 'talking_avatar', inputs: { avatar: { files: [{ upload: photo }] }, audio: { files: [{ data: wav(200) }] } } })
  const [[grpcRow]] = await sys.db.pool.query('SELECT inputs FROM jobs WHERE id = ?', [byGrpc.job_id]) as any
  t.match(typeof grpcRow.inputs === 'string' ? JSON.parse(grpcRow.inputs) : grpcRow.inputs, { avatar: { name: photo, kind: 'image' }, audio: { name: speech, kind: 'audio', mime: 'audio/wav' } },
    'gRPC: an upload by name and bytes (the same sound as an earlier upload: the same reference)')
})

t.test('the idempotency hash covers the inputs', async t => {
  const key = { 'idempotency-key': `inputs-${Date.now()}` }
  const post = (body: Record<string, unknown>) => fetch(`${sys.baseUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json', ...key }, body: JSON.stringify(body) })
    .then(async res => ({ status: res.status, body: await res.json() as any }))
  const first = await post({ workflow: 'single_image_edit', prompt: 'p', inputs: { input: photo } })
  t.equal(first.status, 200)
  const same = await post({ workflow: 'single_image_edit', prompt: 'p', images: { input: dataUrl(png(64, 48, 1)) } })
  t.equal(same.body.job_id, first.body.job_id, 'the same file sent inline is the same request')
  const changed = await post({ workflow: 'single_image_edit', prompt: 'p', inputs: { input: other } })
  t.equal(changed.status, 409, 'another image with the same key is a conflict')
})
