// The original pages' requests, as they send them, against the API (the browser test drives the
// pages themselves): their workflow names and input names, their extra fields, photos inline in bodies
// far above BODY_LIMIT_BYTES; /api/models in their shape; WEB_ROOT serving their folder. A field nobody
// knows is still a 400 naming it, and a body over GENERATE_BODY_LIMIT_BYTES a 413, leaving nothing behind.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import sharp from 'sharp'
import { TestSystem } from './helpers/system.ts'
import { postWithEarlyAnswer } from './helpers/early-answer.ts'
import { wav } from './helpers/media.ts'
import { dataUrl } from './helpers/media-files.ts'
import { ORIGINAL_FRONTEND_DIR } from './helpers/original-pages.ts'

/** A JSON column as the driver gives it: parsed already, or text. */
const json = (value: unknown): any => typeof value === 'string' ? JSON.parse(value) : value

const GENERATE_LIMIT = 3 * 1024 * 1024

/** A photo-like JPEG (noise over a colour): a few hundred kB. */
async function photo (shade: number): Promise<string> {
  const width = 800
  const height = 600
  const raw = Buffer.from(randomBytes(width * height * 3).map(v => Math.min(255, shade + (v >> 2))))
  return dataUrl(await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer(), 'image/jpeg')
}

t.test('the original pages\' API', async t => {
  const sys = await TestSystem.start(t, {
    name: 'origapi',
    workers: 1,
    gatewayEnv: { WEB_ROOT: ORIGINAL_FRONTEND_DIR, GENERATE_BODY_LIMIT_BYTES: String(GENERATE_LIMIT) },
    workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '0' }
  })
  await sys.waitForWorkersConnected()
  const rows = async () => Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs')) as any)[0][0].n)
  const row = async (id: string) => ((await sys.db.pool.query('SELECT workflow, prompt, prompts, inputs FROM jobs WHERE id = ?', [id])) as any)[0][0]
  const [a, b, c] = await Promise.all([photo(10), photo(80), photo(160)])
  const speech = dataUrl(wav(1, s => Math.sin(2 * Math.PI * 200 * s) / 2), 'audio/wav')
  const none = { source: null, target: null, input: null, extra: null }
  const common = { seed: -1, model: 'turbo_fp8', aspect_ratio: '1:1', batch_size: 1 }

  t.test('GET /api/models answers the original\'s shape, the default model first', async t => {
    const res = await fetch(`${sys.baseUrl}/api/models`)
    t.equal(res.status, 200)
    t.same(await res.json(), { models: ['turbo_fp8', 'z_image_turbo'], unet_models: [] }, 'the built-in engine loads no files: every name under models')
  })

  t.test('GET /api/workflows lists the original names as aliases', async t => {
    const { workflows } = await (await fetch(`${sys.baseUrl}/api/workflows`)).json() as { workflows: Array<{ name: string, aliases: string[] }> }
    const aliases = Object.fromEntries(workflows.filter(w => w.aliases.length > 0).map(w => [w.name, w.aliases]))
    t.same(aliases, {
      first_last_frame_video: ['FLF', 'flf_veo3'],
      image_to_video: ['veo3_long_video'],
      talking_avatar: ['virtual_human'],
      text_to_video: ['T2V', 't2v_veo3']
    })
  })

  // each tool's body exactly as dashboard.html (or motion-workspace.js) builds it
  const bodies: Array<[string, Record<string, unknown>, string]> = [
    ['text to image', { workflow: 'text_to_image', prompt: 'a red fox', ...common, images: none }, 'text_to_image'],
    ['single image edit', { workflow: 'single_image_edit', prompt: 'warmer', ...common, images: { ...none, input: a } }, 'single_image_edit'],
    ['face swap', { workflow: 'face_swap', prompt: '', ...common, images: { ...none, source: a, target: b } }, 'face_swap'],
    ['multi-image blend', { workflow: 'multi_image_blend', prompt: '', ...common, images: { source: a, target: b, input: null, extra: c } }, 'multi_image_blend'],
    ['sketch to image', { workflow: 'sketch_to_image', prompt: 'a cottage', ...common, images: { ...none, input: c } }, 'sketch_to_image'],
    ['T2V', { images: {}, prompt: 'waves', workflow: 'T2V' }, 'text_to_video'],
    ['t2v_veo3 (motion-workspace.js)', { seed: -1, aspect_ratio: '9:16', batch_size: 1, workflow: 't2v_veo3', prompt: 'waves', prompts: [] }, 'text_to_video'],
    ['FLF', { images: { first_frame: a, last_frame: b }, prompt: 'morph', workflow: 'FLF' }, 'first_last_frame_video'],
    ['flf_veo3 (motion-workspace.js)', { seed: -1, aspect_ratio: '9:16', batch_size: 1, workflow: 'flf_veo3', prompt: 'morph', prompts: [], images: { first_frame: a, last_frame: b } }, 'first_last_frame_video'],
    ['veo3_long_video, single', { images: { shot1: a, shot2: b, shot3: c, shot4: a, shot5: b }, prompt: 'a journey', mode: 'single', workflow: 'veo3_long_video' }, 'image_to_video'],
    ['veo3_long_video, multi', { images: { shot1: a, shot2: b }, prompts: ['dawn', 'noon'], mode: 'multi', workflow: 'veo3_long_video' }, 'image_to_video'],
    ['veo3_long_video, multi (motion-workspace.js: blank segments, filenames)', {
      seed: -1, aspect_ratio: '9:16', batch_size: 1, workflow: 'veo3_long_video', prompts: ['dawn', '', 'dusk', '', ''], prompt: '', images: { shot1: a }, filenames: { shot1: 'IMG_0001.JPG' }
    }, 'image_to_video'],
    ['virtual_human', { workflow: 'virtual_human', prompt: 'hello', images: { avatar: a }, audio: speech }, 'talking_avatar']
  ]

  t.test('every tool\'s body is accepted as the page sends it, and runs as its workflow', async t => {
    const ids: string[] = []
    for (const [name, body, workflow] of bodies) {
      const res = await sys.submit(body)
      t.equal(res.status, 200, `${name}: 200 (${Math.round(JSON.stringify(body).length / 1024)} kB body)`)
      if (res.status !== 200) { t.comment(JSON.stringify(res.body)); continue }
      const job = await row(res.body.job_id)
      t.equal(job.workflow, workflow, `${name} runs as ${workflow}`)
      t.ok(JSON.stringify(job.inputs ?? '').length < 4096, `${name}: the row holds references, not the photos`)
      ids.push(res.body.job_id)
    }
    const long = await row(ids[11])
    t.same(json(long.prompts), ['dawn', 'dusk'], 'blank segments are dropped')
    t.equal(json((await row(ids[9])).inputs).shots.length, 5, 'five shots, one input')
    for (const id of ids) {
      const end = await sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 120_000)
      t.equal(end.status, 'finished', `${id}: finished with ${end.outputs?.[0]?.kind}`)
    }
  })

  t.test('a field nobody knows is still a 400 naming it; known fields are checked', async t => {
    const before = await rows()
    for (const [body, field] of [
      [{ workflow: 'T2V', prompt: 'waves', priority: 'high' }, /priority/],
      [{ workflow: 'veo3_long_video', prompt: 'x', mode: 'triple', images: { shot1: a } }, /mode/],
      [{ workflow: 'veo3_long_video', prompt: 'x', images: { shot1: a }, filenames: { shot1: 7 } }, /filenames/],
      [{ workflow: 'FLF', prompt: 'x', images: { first_frame: a, last_frame: null } }, /images\.last_frame is required/],
      [{ workflow: 'virtual_human', images: { avatar: a }, audio: a }, /audio is image\/jpeg/]
    ] as const) {
      const res = await sys.submit(body)
      t.equal(res.status, 400)
      t.match(res.body.error, field)
    }
    t.equal(await rows(), before, 'no row')
  })

  t.test('the submit body limit is GENERATE_BODY_LIMIT_BYTES; every other route keeps BODY_LIMIT_BYTES', async t => {
    const before = await rows()
    const over = await postWithEarlyAnswer(`${sys.baseUrl}/api/generate`,
      JSON.stringify({ workflow: 'single_image_edit', prompt: 'x', images: { input: `data:image/jpeg;base64,${'A'.repeat(GENERATE_LIMIT)}` } }),
      { 'content-type': 'application/json' })
    t.equal(over.status, 413)
    t.equal(await rows(), before, 'no row')
    const cancel = await postWithEarlyAnswer(`${sys.baseUrl}/api/cancel/01a00000-0000-7000-8000-000000000000`,
      JSON.stringify({ pad: 'x'.repeat(100 * 1024) }), { 'content-type': 'application/json' })
    t.equal(cancel.status, 413, 'a 100 kB body elsewhere is still too large')
  })

  t.test('WEB_ROOT: the folder\'s pages at /, the built-in page gone', async t => {
    const dashboard = await fetch(`${sys.baseUrl}/dashboard.html`)
    t.equal(dashboard.status, 200)
    t.match(await dashboard.text(), /\/api\/generate/)
    const index = await fetch(`${sys.baseUrl}/`)
    t.equal(index.status, 200)
    t.match(index.headers.get('content-type'), /text\/html/)
    t.equal((await fetch(`${sys.baseUrl}/job-panel.js`)).status, 404, 'the built-in page\'s files are not served')
    t.equal((await fetch(`${sys.baseUrl}/api/health`)).status, 200, 'the API is where it was')
  })
})
