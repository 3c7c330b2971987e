// Must show (issue 11): each image workflow runs end to end on the built-in engine, through the real
// gateway and worker, and its output derives from its inputs as the README's table declares.
import t from 'tap'
import { hueRotation } from '../services/worker/src/engines/builtin/colour.ts'
import { startBuiltinSystem, runJob, upload } from './helpers/builtin-jobs.ts'
import { colourDistance, decode, encodeAs, meanAbsDiff, meanColour, paint } from './helpers/media.ts'

const sys = await startBuiltinSystem(t, 'builtin_images')
const luminance = (c: number[]): number => 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

const photo = paint(120, 80, (x, y) => [140 + x / 3, 100 + (y * 3) % 40, 90 + x / 4])
const face = paint(150, 150, (x, y) => Math.hypot(x - 75, y - 75) < 50 ? [230, 170, 140] : [20, 20, 20])
const scene = paint(200, 160, () => [40, 90, 200])
const red = paint(90, 60, () => [200, 40, 40])
const blue = paint(60, 60, () => [40, 40, 200])
const sketch = paint(160, 160, (x, y) => Math.abs(x - y) < 3 || Math.abs(x - 80) < 3 ? [0, 0, 0] : [255, 255, 255])
const [photoName, faceName, sceneName, redName, blueName, sketchName] = await Promise.all([
  upload(sys, await encodeAs(photo, 'png'), 'photo.png'),
  upload(sys, await encodeAs(face, 'png'), 'face.png'),
  upload(sys, await encodeAs(scene, 'jpeg'), 'scene.jpg'),
  upload(sys, await encodeAs(red, 'webp'), 'red.webp'),
  upload(sys, await encodeAs(blue, 'png'), 'blue.png'),
  upload(sys, await encodeAs(sketch, 'png'), 'sketch.png')
])

t.test('GET /api/workflows lists every shipped workflow with its inputs, all runnable here', async t => {
  const { workflows } = await (await fetch(`${sys.baseUrl}/api/workflows`)).json() as { workflows: any[] }
  t.ok(workflows.length >= 10, `${workflows.length} workflows`)
  const inputs = Object.fromEntries(workflows.map(w => [w.name, w.inputs.map((i: any) => `${i.name}:${i.kind}`).join(',')]))
  t.match(inputs, {
    single_image_edit: /input:image/,
    face_swap: 'source:image,target:image',
    multi_image_blend: 'images:images',
    sketch_to_image: 'input:image',
    upscale: 'input:image',
    image_to_video: 'shots:images',
    first_last_frame_video: 'first_frame:image,last_frame:image',
    talking_avatar: 'avatar:image,audio:audio'
  })
})

// The jobs run side by side (two at a time on the worker); each subtest checks one.
const jobs = {
  edit: runJob(sys, { workflow: 'single_image_edit', prompt: 'evening light', inputs: { input: photoName } }),
  swap: runJob(sys, { workflow: 'face_swap', prompt: 'swap', inputs: { source: faceName, target: sceneName } }),
  blend: runJob(sys, { workflow: 'multi_image_blend', prompt: 'mix', inputs: { images: [redName, blueName] } }),
  sketch: runJob(sys, { workflow: 'sketch_to_image', prompt: 'a pen drawing', inputs: { input: sketchName } }),
  upscale: runJob(sys, { workflow: 'upscale', prompt: '', inputs: { input: photoName } })
}
for (const job of Object.values(jobs)) job.catch(() => {}) // each subtest reports its own failure

t.test('single_image_edit: the input\'s colours turned by one hue angle, luminance kept', async t => {
  const { output, data, contentType } = await jobs.edit
  t.match(output, { kind: 'image', mime: 'image/png', width: 120, height: 80 })
  t.equal(contentType, 'image/png')
  const out = await decode(data)
  const [inMean, outMean] = [meanColour(photo), meanColour(out)]
  let best = { degrees: 0, distance: Infinity }
  for (let degrees = 0; degrees < 360; degrees += 0.1) {
    const m = hueRotation(degrees)
    const rotated = [0, 1, 2].map(r => m[r * 3] * inMean[0] + m[r * 3 + 1] * inMean[1] + m[r * 3 + 2] * inMean[2])
    const distance = colourDistance(rotated, outMean)
    if (distance < best.distance) best = { degrees, distance }
  }
  t.ok(best.distance < 2, `the mean colour is the input's turned by ${best.degrees.toFixed(1)}° (off by ${best.distance.toFixed(2)})`)
  t.ok(best.degrees >= 59.9 && best.degrees <= 300.1, 'by a visible angle (60–300°)')
  t.ok(Math.abs(luminance(outMean) - luminance(inMean)) < 2, 'luminance kept')
})

t.test('face_swap: the source\'s face in the middle of the target, the rest untouched', async t => {
  const { output, data } = await jobs.swap
  t.match(output, { kind: 'image', mime: 'image/png', width: 200, height: 160 })
  const out = await decode(data)
  t.ok(colourDistance(meanColour(out, { x: 85, y: 65, width: 30, height: 30 }), [230, 170, 140]) < 4, 'the face in the middle')
  const corner = meanColour(out, { x: 0, y: 0, width: 40, height: 30 })
  const jpegScene = meanColour(await decode(await encodeAs(scene, 'jpeg')), { x: 0, y: 0, width: 40, height: 30 })
  t.ok(colourDistance(corner, jpegScene) < 2, 'the target around it')
})

t.test('multi_image_blend: a weighted mean of the inputs, at the first one\'s size', async t => {
  const { output, data } = await jobs.blend
  t.match(output, { kind: 'image', mime: 'image/png', width: 90, height: 60 })
  const mean = meanColour(await decode(data))
  const w = (mean[0] - 40) / 160 // red's weight, from the red channel
  t.ok(w > 0.24 && w < 0.76, `red weighs ${w.toFixed(2)}, blue ${(1 - w).toFixed(2)} (each 0.5–1.5 before normalising)`)
  t.ok(colourDistance(mean, [40 + 160 * w, 40, 40 + 160 * (1 - w)]) < 2, 'every channel agrees with those weights')
})

t.test('sketch_to_image: the lines coloured, the paper pale', async t => {
  const { output, data } = await jobs.sketch
  t.match(output, { kind: 'image', mime: 'image/png', width: 160, height: 160 })
  const out = await decode(data)
  const line = meanColour(out, { x: 80, y: 20, width: 1, height: 1 })
  t.ok(Math.max(...line) - Math.min(...line) > 100, `a line pixel is a saturated colour (${line.map(Math.round).join(',')})`)
  t.ok(luminance(meanColour(out, { x: 120, y: 10, width: 20, height: 20 })) > 200, 'the paper stays light')
})

t.test('upscale: twice the size, and scaled back down it is the input', async t => {
  const { output, data } = await jobs.upscale
  t.match(output, { kind: 'image', mime: 'image/png', width: 240, height: 160 })
  const sharp = (await import('sharp')).default
  const out = await decode(data)
  const back = await sharp(Buffer.from(out.pixels), { raw: { width: 240, height: 160, channels: 3 } }).resize(120, 80, { kernel: 'cubic' }).raw().toBuffer()
  t.ok(meanAbsDiff({ width: 120, height: 80, pixels: new Uint8Array(back) }, photo) < 2)
})
