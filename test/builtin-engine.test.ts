// The built-in engine run directly on real input bytes: every shipped workflow transforms its inputs
// as its metadata declares, videos have the declared frames and size, and runs are deterministic.
import t from 'tap'
import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import { BUILTIN_WORKFLOWS, type QueuedJob } from '@comfy-jobs/contracts'
import { probeMedia, type RgbImage } from '@comfy-jobs/media'
import { BuiltinEngine } from '../services/worker/src/engines/builtin/builtin-engine.ts'
import type { EngineProgress, EngineResult, ResolvedInput, ResolvedInputs } from '../services/worker/src/engines/engine.ts'
import { describeOutputs } from '../services/worker/src/output-files.ts'
import { colourDistance, decode, decodeKeyFrameWebm, encodeAs, meanAbsDiff, meanColour, paint, wav, type Rgb } from './helpers/media.ts'

const STEPS = 4
const engine = new BuiltinEngine({ steps: STEPS, stepMs: 0 })

function job (workflow: string, extra: Partial<QueuedJob> = {}): QueuedJob {
  return { job_id: `job-${workflow}`, workflow, model: 'turbo_fp8', prompt: 'a quiet harbour', params: { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 42, batch_size: 1 }, ...extra }
}

function input (name: string, data: Buffer, kind: 'image' | 'audio' = 'image'): ResolvedInput {
  return { ref: { name, kind, mime: kind === 'image' ? 'image/png' : 'audio/wav', bytes: data.length }, data }
}

interface Run { result: EngineResult, progress: EngineProgress[] }

async function run (queued: QueuedJob, inputs: ResolvedInputs = {}, signal = new AbortController().signal): Promise<Run> {
  const progress: EngineProgress[] = []
  const result = await engine.run(queued, { signal, inputs, onProgress: p => progress.push(p) })
  return { result, progress }
}

const declared = (r: Run, i = 0): any => (r.result.metadata.outputs as any[])[i]
const luminance = (c: number[]): number => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

/** Mid-range colours (no channel near 0 or 255), so a linear colour operation does not clip. */
const photo = paint(120, 80, (x, y) => [140 + x / 3, 100 + (y * 3) % 40, 90 + x / 4])
const photoPng = await encodeAs(photo, 'png')

t.test('every workflow the engine advertises has a renderer, with every model', async t => {
  t.same(engine.runnable().map(w => w.workflow).sort(), [...BUILTIN_WORKFLOWS].sort())
  t.equal(BUILTIN_WORKFLOWS.length, 10)
})

t.test('single_image_edit recolours by the declared hue rotation', async t => {
  const r = await run(job('single_image_edit'), { input: input('photo.png', photoPng) })
  const out = await decode(r.result.outputs[0].data)
  t.same([out.width, out.height], [120, 80], 'the input\'s size')
  const d = declared(r)
  t.equal(d.operation, 'recolour')
  t.ok(d.hue_degrees >= 60 && d.hue_degrees <= 300, `a visible rotation (${d.hue_degrees}°)`)
  const expected = rotateHue(meanColour(photo), d.hue_degrees)
  t.ok(colourDistance(meanColour(out), expected) < 2, `mean colour ${fmt(meanColour(out))} is the input's ${fmt(meanColour(photo))} rotated: ${fmt(expected)}`)
  t.ok(Math.abs(luminance(meanColour(out)) - luminance(meanColour(photo))) < 2, 'luminance kept')
  t.same(r.progress.map(p => p.step), [1, 2, 3, 4], 'one progress event per step')
  t.ok(r.progress.every(p => p.node === 'render' && p.total_steps === STEPS))
  const other = await run(job('single_image_edit', { prompt: 'a loud market' }), { input: input('photo.png', photoPng) })
  t.not(declared(other).hue_degrees, d.hue_degrees, 'another prompt, another colour')
})

t.test('single_image_edit warps when the prompt asks, moving pixels but not changing colours', async t => {
  const stripes = paint(160, 160, (x, y) => (Math.floor(x / 8) + Math.floor(y / 8)) % 2 === 0 ? [230, 200, 40] : [30, 60, 150])
  const r = await run(job('single_image_edit', { prompt: 'make the harbour wavy' }), { input: input('stripes.png', await encodeAs(stripes, 'png')) })
  const d = declared(r)
  t.equal(d.operation, 'warp')
  t.ok(d.amplitude_px >= 3 && d.amplitude_px <= 8, `amplitude ${d.amplitude_px} px (2–5% of 160)`)
  const out = await decode(r.result.outputs[0].data)
  t.ok(meanAbsDiff(out, stripes) > 10, `pixels moved (mean difference ${meanAbsDiff(out, stripes).toFixed(1)})`)
  let near = 0
  for (let i = 0; i < out.pixels.length; i += 3) {
    const c = [out.pixels[i], out.pixels[i + 1], out.pixels[i + 2]]
    if (colourDistance(c, [230, 200, 40]) < 30 || colourDistance(c, [30, 60, 150]) < 30) near++
  }
  t.ok(near / (out.pixels.length / 3) > 0.8, `the palette stays the same: ${(100 * near / (out.pixels.length / 3)).toFixed(0)}% of pixels are one of the two colours`)
})

t.test('single_image_edit with a mask edits only where the mask is white', async t => {
  const mask = paint(120, 80, x => x < 60 ? [255, 255, 255] : [0, 0, 0])
  const r = await run(job('single_image_edit'), { input: input('photo.png', photoPng), mask: input('mask.png', await encodeAs(mask, 'png')) })
  t.equal(declared(r).masked, true)
  const out = await decode(r.result.outputs[0].data)
  const right = { x: 60, y: 0, width: 60, height: 80 }
  const left = { x: 0, y: 0, width: 60, height: 80 }
  t.same(meanColour(out, right), meanColour(photo, right), 'black half untouched')
  t.ok(colourDistance(meanColour(out, left), rotateHue(meanColour(photo, left), declared(r).hue_degrees)) < 2, 'white half recoloured')
})

t.test('face_swap puts the source\'s central region onto the target, inside the declared region', async t => {
  const source = paint(150, 150, (x, y) => Math.hypot(x - 75, y - 75) < 50 ? [230, 170, 140] : [20, 20, 20])
  const target = paint(200, 160, () => [40, 90, 200])
  const r = await run(job('face_swap'), { source: input('face.png', await encodeAs(source, 'png')), target: input('scene.png', await encodeAs(target, 'png')) })
  const out = await decode(r.result.outputs[0].data)
  t.same([out.width, out.height], [200, 160], 'the target\'s size')
  const { region } = declared(r)
  t.same(region, { x: 60, y: 40, width: 80, height: 80, shape: 'ellipse', opaque_within: 0.8 })
  const core = { x: region.x + 25, y: region.y + 25, width: 30, height: 30 }
  t.ok(colourDistance(meanColour(out, core), [230, 170, 140]) < 3, `the region's core is the source's face colour (${fmt(meanColour(out, core))})`)
  for (const corner of [{ x: 0, y: 0 }, { x: 170, y: 0 }, { x: 0, y: 130 }, { x: 170, y: 130 }]) {
    t.same(meanColour(out, { ...corner, width: 30, height: 30 }), [40, 90, 200], `outside the region the target is untouched (${corner.x},${corner.y})`)
  }
})

t.test('multi_image_blend is the declared weighted mean of the inputs, at the first one\'s size', async t => {
  const colours: Rgb[] = [[200, 40, 40], [40, 200, 40], [40, 40, 200]]
  const sizes = [[100, 60], [50, 50], [300, 200]]
  const images = await Promise.all(colours.map((c, i) => encodeAs(paint(sizes[i][0], sizes[i][1], () => c), 'png')))
  const r = await run(job('multi_image_blend'), { images: images.map((data, i) => input(`${i}.png`, data)) })
  const out = await decode(r.result.outputs[0].data)
  t.same([out.width, out.height], [100, 60])
  const { weights } = declared(r)
  t.equal(weights.length, 3)
  t.ok(Math.abs(weights.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-5, 'weights sum to 1')
  t.ok(weights.every((w: number) => w > 0.1), 'every input counts')
  const expected = [0, 1, 2].map(k => colours.reduce((sum, c, i) => sum + c[k] * weights[i], 0))
  t.ok(colourDistance(meanColour(out), expected) < 1, `mean ${fmt(meanColour(out))} = Σ weight × colour = ${fmt(expected)}`)
  await t.rejects(run(job('multi_image_blend'), { images: [input('0.png', images[0])] }), /input "images" of workflow multi_image_blend takes 2 to 5 files, got 1/)
})

t.test('sketch_to_image colours the lines and tints the paper', async t => {
  const sketch = paint(200, 200, (x, y) => Math.abs(x - y) < 3 || Math.abs(x - 100) < 3 ? [0, 0, 0] : [255, 255, 255])
  const r = await run(job('sketch_to_image'), { input: input('sketch.png', await encodeAs(sketch, 'png')) })
  const out = await decode(r.result.outputs[0].data)
  const { paper } = declared(r)
  t.ok(colourDistance(meanColour(out, { x: 150, y: 20, width: 20, height: 20 }), paper) < 1, 'paper is the declared paper colour')
  t.ok(luminance(paper) > 200, 'and light')
  for (const y of [5, 60, 140, 195]) {
    const line = meanColour(out, { x: 100, y, width: 1, height: 1 })
    t.ok(Math.max(...line) - Math.min(...line) > 100, `the line at y=${y} is coloured (${fmt(line)}), not black`)
    t.ok(luminance(line) < luminance(paper) - 60, 'and stands out from the paper')
    const [from, to] = declared(r).ink_hues
    const offset = (hueOf(line) - from + 360 + 5) % 360
    t.ok(offset <= (to - from + 360) % 360 + 10, `its hue ${hueOf(line).toFixed(0)}° is in the declared run ${from}°→${to}°`)
  }
})

t.test('upscale resamples to twice the size, band by band exactly as one resize', async t => {
  const r = await run(job('upscale'), { input: input('photo.png', photoPng) })
  const out = await decode(r.result.outputs[0].data)
  t.same([out.width, out.height], [240, 160])
  t.same(declared(r), { seed: 42, scale: 2, kernel: 'lanczos3', input: { width: 120, height: 80 } })
  const whole = await sharp(photo.pixels, { raw: { width: 120, height: 80, channels: 3 } }).resize(240, 160, { kernel: 'lanczos3', fit: 'fill' }).raw().toBuffer()
  t.ok(meanAbsDiff(out, { width: 240, height: 160, pixels: whole }) < 0.05, 'the bands join up invisibly')
  const back = await sharp(Buffer.from(out.pixels), { raw: { width: 240, height: 160, channels: 3 } }).resize(120, 80, { kernel: 'cubic' }).raw().toBuffer()
  t.ok(meanAbsDiff({ width: 120, height: 80, pixels: back }, photo) < 2, 'and scaled back down it is the input')
})

t.test('text_to_video renders a segment per prompt: N frames of the declared size', async t => {
  const queued = job('text_to_video', { prompts: ['dawn over the sea', 'a storm rolls in'], params: { aspect_ratio: '16:9', width: 1216, height: 832, seed: 3, batch_size: 1 } })
  t.equal(engine.totalSteps(queued), 48, 'total steps known before the run: 2 × 24 frames')
  const r = await run(queued)
  const meta = r.result.metadata as any
  t.match(meta, { kind: 'pattern-video', fps: 12, frames: 48, width: 512, height: 350 })
  t.same(declared(r).segments.map((s: any) => [s.prompt, s.first_frame, s.frames]), [['dawn over the sea', 0, 24], ['a storm rolls in', 24, 24]])
  t.equal(r.progress.length, 48, 'a progress event per frame')
  t.ok(r.progress.every((p, i) => p.node === 'frame' && p.step === i + 1 && p.total_steps === 48))
  const video = await decodeKeyFrameWebm(r.result.outputs[0].data)
  t.equal(video.frames.length, 48)
  t.same([video.width, video.height], [512, 350])
  t.ok(meanAbsDiff(video.frames[0], video.frames[10]) > 3, 'the picture moves')
  t.ok(colourDistance(meanColour(video.frames[0]), meanColour(video.frames[30])) > 10, 'the second prompt looks different')
})

t.test('image_to_video zooms into each shot, tinted by its prompt; `prompts` give one segment each', async t => {
  const red = paint(160, 120, (x, y) => [200, 60 + (x + y) % 40, 60])
  const blue = paint(160, 120, (x, y) => [50, 60 + (x * y) % 40, 210])
  const shots = [input('red.png', await encodeAs(red, 'png')), input('blue.png', await encodeAs(blue, 'png'))]
  const queued = job('image_to_video', { inputs: { shots: shots.map(s => s.ref) } })
  t.equal(engine.totalSteps(queued), 48, 'one segment per shot')
  const r = await run(queued, { shots })
  const video = await decodeKeyFrameWebm(r.result.outputs[0].data)
  t.equal(video.frames.length, 48)
  t.same([video.width, video.height], [160, 120], 'the first shot\'s size (it fits in 512)')
  const { tint_amount: amount, segments } = declared(r)
  t.same(segments.map((s: any) => s.shot), [0, 1])
  const tinted = (image: RgbImage, tint: Rgb): number[] => meanColour(image).map((v, k) => v * (1 - amount) + tint[k] * amount)
  t.ok(colourDistance(meanColour(video.frames[0]), tinted(red, segments[0].tint)) < 5, 'frame 0 is the first shot, tinted')
  t.ok(colourDistance(meanColour(video.frames[30]), tinted(blue, segments[1].tint)) < 5, 'frame 30 is the second shot, tinted')

  const three = await run(job('image_to_video', { prompts: ['a', 'b', 'c'] }), { shots })
  t.same(declared(three).segments.map((s: any) => [s.prompt, s.shot]), [['a', 0], ['b', 1], ['c', 0]], 'prompts cycle through the shots')
  t.equal((await probeMedia(three.result.outputs[0].data)).frames, 72)
})

t.test('first_last_frame_video morphs from the first frame to the last', async t => {
  const first = paint(128, 96, (x, y) => [220, 120 + (x % 20), 40 + (y % 10)])
  const last = paint(128, 96, (x, y) => [40, 80 + (y % 20), 200 - (x % 10)])
  const r = await run(job('first_last_frame_video'), { first_frame: input('first.png', await encodeAs(first, 'png')), last_frame: input('last.png', await encodeAs(last, 'png')) })
  const video = await decodeKeyFrameWebm(r.result.outputs[0].data)
  t.equal(video.frames.length, 24)
  t.same(video.timestamps.slice(0, 3).map(s => Math.round(s * 1000)), [0, 83, 167], '12 frames a second')
  t.ok(meanAbsDiff(video.frames[0], first) < 4, 'frame 0 is the first image')
  t.ok(meanAbsDiff(video.frames[23], last) < 4, 'the final frame is the last image')
  const middle = meanColour(video.frames[12])
  const [a, b] = [meanColour(first), meanColour(last)]
  t.ok(middle[0] < a[0] - 40 && middle[0] > b[0] + 40, `half way the red channel is between the two (${fmt(middle)})`)
})

t.test('talking_avatar: the mouth opens with the audio, and the video lasts as long as the audio', async t => {
  const avatar = paint(200, 240, () => [225, 180, 150])
  const seconds = 2.3
  const speech = wav(seconds, s => s < 1 ? 0 : 0.5 * Math.sin(2 * Math.PI * 220 * s))
  const r = await run(job('talking_avatar'), { avatar: input('me.png', await encodeAs(avatar, 'png')), audio: input('hello.wav', speech, 'audio') })
  t.equal(engine.totalSteps(job('talking_avatar')), 0, 'frames depend on the audio, unknown before it is decoded')
  const frames = Math.ceil(seconds * 12)
  t.equal(r.progress.length, frames, 'a progress event per frame')
  t.ok(r.progress.every(p => p.total_steps === frames))
  const probe = await probeMedia(r.result.outputs[0].data)
  t.equal(probe.frames, frames)
  t.ok(Math.abs(probe.duration_ms! - seconds * 1000) < 1000 / 12, `duration ${probe.duration_ms} ms is the audio's ${seconds * 1000} ms within a frame`)
  const video = await decodeKeyFrameWebm(r.result.outputs[0].data)
  t.equal(video.audioCodec, 'opus', 'the audio is muxed in')
  const { mouth } = declared(r)
  const box = { x: Math.round(mouth.cx - mouth.rx / 2), y: Math.round(mouth.cy - 2), width: Math.round(mouth.rx), height: 4 }
  const quiet = luminance(meanColour(video.frames[6], box))
  const loud = luminance(meanColour(video.frames[20], box))
  t.ok(Math.abs(quiet - luminance([225, 180, 150])) < 4, `during the silence the mouth is closed (${quiet.toFixed(0)})`)
  t.ok(loud < quiet - 80, `while the tone plays it is open and dark (${loud.toFixed(0)})`)

  const mp3 = readFileSync(new URL('./fixtures/media/tone-1500ms.mp3', import.meta.url))
  const fromMp3 = await run(job('talking_avatar'), { avatar: input('me.png', await encodeAs(avatar, 'png')), audio: input('tone.mp3', mp3, 'audio') })
  const mp3Probe = await probeMedia(fromMp3.result.outputs[0].data)
  t.equal(mp3Probe.frames, 18, 'MP3 audio: 1.5 s at 12 fps')
  t.ok(Math.abs(mp3Probe.duration_ms! - 1500) < 1000 / 12, `and lasts 1.5 s (${mp3Probe.duration_ms} ms)`)
})

t.test('the worker describes each output from its bytes, as the engine declared it', async t => {
  const image = await run(job('upscale'), { input: input('photo.png', photoPng) })
  const video = await run(job('first_last_frame_video'), { first_frame: input('a.png', photoPng), last_frame: input('b.png', photoPng) })
  const [png] = await describeOutputs('j1', image.result.outputs)
  t.match(png.file, { name: 'j1_0.png', index: 0, kind: 'image', mime: 'image/png', width: 240, height: 160, duration_ms: 0, frames: 0, bytes: png.data.length })
  t.match(png.file.sha256, /^[0-9a-f]{64}$/)
  const [webm] = await describeOutputs('j2', video.result.outputs)
  t.match(webm.file, { name: 'j2_0.webm', kind: 'video', mime: 'video/webm', width: 120, height: 80, duration_ms: 2000, frames: 24 })
  for (const [described, output] of [[png, image.result.outputs[0]], [webm, video.result.outputs[0]]] as const) {
    t.same([described.file.kind, described.file.mime, described.file.width, described.file.height, described.file.frames], [output.kind, output.mime, output.width, output.height, output.frames ?? 0], `${output.kind}: the engine's word agrees with the probe`)
  }
  const [animated] = await describeOutputs('j4', [{ ...image.result.outputs[0], kind: 'video' }])
  t.match(animated.file, { kind: 'video', mime: 'image/png', frames: 0 }, 'an image the engine calls an animation stays a video (ComfyUI marks animated outputs)')
  await t.rejects(describeOutputs('j3', [{ index: 0, kind: 'image', mime: 'image/png', width: 1, height: 1, data: Buffer.from('not a png') }]), /output 0 .* is not media this service can serve/)
})

t.test('the same job and inputs give the same bytes; another seed another output', async t => {
  const cases: Array<[string, ResolvedInputs]> = [
    ['single_image_edit', { input: input('photo.png', photoPng) }],
    ['image_to_video', { shots: [input('photo.png', photoPng)] }],
    ['talking_avatar', { avatar: input('photo.png', photoPng), audio: input('a.wav', wav(0.5, s => Math.sin(s * 2000)), 'audio') }]
  ]
  for (const [workflow, inputs] of cases) {
    const [a, b] = [await run(job(workflow), inputs), await run(job(workflow), inputs)]
    t.ok(a.result.outputs[0].data.equals(b.result.outputs[0].data), `${workflow}: identical bytes`)
    if (workflow === 'talking_avatar') continue // the seed has nothing to choose there
    const other = await run(job(workflow, { params: { ...job(workflow).params, seed: 43 } }), inputs)
    t.notOk(other.result.outputs[0].data.equals(a.result.outputs[0].data), `${workflow}: seed 43 differs from 42`)
  }
})

t.test('a batch gives one output per seed', async t => {
  const r = await run(job('single_image_edit', { params: { ...job('x').params, batch_size: 2 } }), { input: input('photo.png', photoPng) })
  t.equal(r.result.outputs.length, 2)
  t.same(r.result.metadata.seeds, [42, 43])
  t.not(declared(r, 0).hue_degrees, declared(r, 1).hue_degrees)
  t.same(r.progress.map(p => p.step), [1, 2, 3, 4], 'the batch shares the steps')
})

t.test('a cancel is honoured between steps and frames', async t => {
  for (const [workflow, inputs] of [
    ['upscale', { input: input('photo.png', photoPng) }],
    ['text_to_video', {}]
  ] as const) {
    const controller = new AbortController()
    const progress: EngineProgress[] = []
    const running = engine.run(job(workflow), {
      signal: controller.signal,
      inputs,
      onProgress: p => { progress.push(p); if (p.step === 2) controller.abort(new Error('cancelled by test')) }
    })
    await t.rejects(running, /cancelled by test/, workflow)
    t.equal(progress.length, 2, `${workflow}: no step after the cancel`)
  }
})

t.test('missing or unreadable inputs fail the job naming the input', async t => {
  await t.rejects(run(job('single_image_edit')), /workflow single_image_edit needs the input "input"/)
  await t.rejects(run(job('face_swap'), { source: input('a.png', photoPng) }), /needs the input "target"/)
  await t.rejects(run(job('upscale'), { input: input('notes.png', Buffer.from('plain text')) }), /input "input" \(notes.png\): cannot decode image/)
  await t.rejects(run(job('talking_avatar'), { avatar: input('a.png', photoPng), audio: input('a.ogg', Buffer.from('OggS....'), 'audio') }), /input "audio" \(a.ogg\): audio must be WAV or MP3/)
  await t.rejects(run(job('talking_avatar'), { avatar: input('a.png', photoPng), audio: input('long.wav', wav(61, () => 0, 8000), 'audio') }), /input "audio" lasts 61.0 s; talking_avatar takes at most 60 s/)
  await t.rejects(run(job('image_to_video')), /input "shots" of workflow image_to_video takes 1 to 5 files, got 0/)
})

function rotateHue (c: number[], degrees: number): number[] {
  const a = degrees * Math.PI / 180
  const cos = Math.cos(a)
  const sin = Math.sin(a)
  const m = [
    0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715, 0.072 - cos * 0.072 + sin * 0.928,
    0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.140, 0.072 - cos * 0.072 - sin * 0.283,
    0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715, 0.072 + cos * 0.928 + sin * 0.072
  ]
  return [0, 1, 2].map(r => m[r * 3] * c[0] + m[r * 3 + 1] * c[1] + m[r * 3 + 2] * c[2])
}

function hueOf ([r, g, b]: number[]): number {
  const max = Math.max(r, g, b)
  const d = max - Math.min(r, g, b)
  if (d === 0) return 0
  const h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4
  return (h * 60 + 360) % 360
}

function fmt (c: number[]): string {
  return c.map(v => Math.round(v)).join(',')
}
