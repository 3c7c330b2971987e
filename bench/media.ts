// What video costs on this machine: VP8 key frames (libwebp through sharp) per frame at the sizes the
// built-in engine renders, against a same-run floor (the same pixels through sharp with no encoding),
// Opus per second of audio, and whole built-in video jobs (BUILTIN_STEP_MS=0: work only).
//   npm run bench:media    (env: BENCH_ROUNDS=3, BENCH_FRAMES=24)
import { cpus, loadavg } from 'node:os'
import sharp from 'sharp'
import { encodeVp8KeyFrame, OpusEncoder, type RgbImage } from '@comfy-jobs/media'
import type { QueuedJob } from '@comfy-jobs/contracts'
import { BuiltinEngine } from '../services/worker/src/engines/builtin/builtin-engine.ts'
import { TestPattern } from '../services/worker/src/engines/builtin/test-pattern.ts'
import { wav, encodeAs, paint } from '../test/helpers/media.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const frames = Number(process.env.BENCH_FRAMES ?? 24)
const SIZES = [[256, 256], [512, 350], [512, 512], [640, 360]] as const

function frameAt (width: number, height: number, i: number): RgbImage {
  const pattern = new TestPattern({ prompt: 'bench', seed: 1, width, height })
  pattern.renderRows(0, height, i / frames)
  return { width, height, pixels: pattern.pixels.slice() }
}

async function floor (image: RgbImage): Promise<void> {
  await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } }).raw().toBuffer()
}

async function perFrame (images: RgbImage[], work: (image: RgbImage) => Promise<unknown>): Promise<number> {
  const start = performance.now()
  for (const image of images) await work(image)
  return (performance.now() - start) / images.length
}

console.log(`media bench: ${cpus().length} cores, load ${loadavg().map(l => l.toFixed(1)).join(' ')}, ${rounds} rounds of ${frames} frames`)
console.log('size      VP8 q80 ms/frame   floor ms/frame   ratio   KiB/frame')
sharp.concurrency(1)
for (const [width, height] of SIZES) {
  const images = Array.from({ length: frames }, (_, i) => frameAt(width, height, i))
  const vp8: number[] = []
  const base: number[] = []
  let bytes = 0
  for (let r = 0; r < rounds; r++) { // interleaved, so load hits both alike
    base.push(await perFrame(images, floor))
    vp8.push(await perFrame(images, async image => { bytes += (await encodeVp8KeyFrame(image)).length }))
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(`${`${width}x${height}`.padEnd(9)} ${median(vp8).toFixed(2).padStart(10)} ${median(base).toFixed(2).padStart(16)} ${(median(vp8) / median(base)).toFixed(1).padStart(9)}× ${(bytes / rounds / frames / 1024).toFixed(1).padStart(9)}`)
}
sharp.concurrency(0)

const audio = { sampleRate: 44_100, channels: [new Float32Array(44_100 * 10).map((_, i) => Math.sin(i / 20) * 0.3)] }
const warm = await OpusEncoder.create({ sampleRate: 48_000, channels: [new Float32Array(960)] }) // compiles the WebAssembly once
warm.close()
const opusStart = performance.now()
const encoder = await OpusEncoder.create(audio)
const packets = encoder.encodeUntil().length
encoder.close()
console.log(`Opus: ${((performance.now() - opusStart) / 10).toFixed(1)} ms per second of 44.1 kHz mono audio (${packets} packets for 10 s)`)

const engine = new BuiltinEngine({ steps: 8, stepMs: 0 })
const shot = await encodeAs(paint(640, 480, (x, y) => [x % 256, y % 256, 128]), 'png')
const image = { ref: { name: 's.png', kind: 'image' as const, mime: 'image/png', bytes: shot.length }, data: shot }
const voice = wav(10, s => Math.sin(2 * Math.PI * 200 * s) * 0.3, 22_050)
const jobs: Array<[string, QueuedJob['params'], Record<string, unknown>]> = [
  ['text_to_video', { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }, {}],
  ['image_to_video', { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }, { shots: [image] }],
  ['first_last_frame_video', { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }, { first_frame: image, last_frame: image }],
  ['talking_avatar', { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }, { avatar: image, audio: { ref: { name: 'v.wav', kind: 'audio', mime: 'audio/wav', bytes: voice.length }, data: voice } }]
]
for (const [workflow, params, inputs] of jobs) {
  const start = performance.now()
  const result = await engine.run({ job_id: 'b', workflow, model: 'turbo_fp8', prompt: 'bench', params }, { signal: new AbortController().signal, onProgress: () => {}, inputs: inputs as any })
  const out = result.outputs[0]
  const ms = performance.now() - start
  console.log(`${workflow.padEnd(24)} ${out.frames} frames ${out.width}x${out.height}: ${(ms / 1000).toFixed(2)} s (${(ms / out.frames!).toFixed(1)} ms/frame incl. rendering), ${(out.data.length / 1024).toFixed(0)} KiB`)
}
