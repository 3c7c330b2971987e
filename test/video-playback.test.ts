// The built-in engine's videos play in a browser (Debian's Chromium, headless): a <video> element
// loads their metadata with the right duration and size, plays them, and shows the frames rendered.
import t from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { QueuedJob } from '@comfy-jobs/contracts'
import { BuiltinEngine } from '../services/worker/src/engines/builtin/builtin-engine.ts'
import type { ResolvedInputs } from '../services/worker/src/engines/engine.ts'
import { launchBrowser } from './helpers/browser.ts'
import { colourDistance, decodeKeyFrameWebm, encodeAs, meanColour, paint, wav } from './helpers/media.ts'

const engine = new BuiltinEngine({ steps: 2, stepMs: 0 })
const base: QueuedJob = { job_id: 'v', workflow: '', model: 'turbo_fp8', prompt: 'a river at night', params: { aspect_ratio: '16:9', width: 1216, height: 832, seed: 5, batch_size: 1 } }
const avatar = await encodeAs(paint(240, 320, () => [210, 170, 140]), 'png')
const voice = wav(1.9, s => 0.4 * Math.sin(2 * Math.PI * 180 * s) * (Math.sin(2 * Math.PI * 2 * s) > 0 ? 1 : 0.05), 22_050)
const ref = (name: string, data: Buffer, kind: 'image' | 'audio') => ({ ref: { name, kind, mime: kind === 'image' ? 'image/png' : 'audio/wav', bytes: data.length }, data })

async function render (workflow: string, inputs: ResolvedInputs = {}): Promise<Buffer> {
  const result = await engine.run({ ...base, workflow }, { signal: new AbortController().signal, inputs, onProgress: () => {} })
  return result.outputs[0].data
}

const videos: Record<string, { bytes: Buffer, seconds: number, width: number, height: number, audio: boolean }> = {
  'text_to_video.webm': { bytes: await render('text_to_video'), seconds: 2, width: 512, height: 350, audio: false },
  'talking_avatar.webm': { bytes: await render('talking_avatar', { avatar: ref('a.png', avatar, 'image'), audio: ref('v.wav', voice, 'audio') }), seconds: 1.9, width: 240, height: 320, audio: true }
}

const server = createServer((req, res) => {
  const video = videos[(req.url ?? '').slice(1)]
  if (video === undefined) {
    res.setHeader('content-type', 'text/html')
    res.end('<!doctype html><title>videos</title><body></body>')
    return
  }
  res.setHeader('content-type', 'video/webm')
  res.setHeader('content-length', video.bytes.length)
  res.end(video.bytes)
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
t.teardown(() => server.close())
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`

const browser = await launchBrowser()
t.teardown(() => browser.close())
const page = await browser.context.newPage()
await page.goto(`${origin}/`)

for (const [name, video] of Object.entries(videos)) {
  t.test(`${name} plays in Chromium`, async t => {
    const seen = await page.evaluate(async src => {
      const v = document.createElement('video')
      v.muted = true
      v.preload = 'auto'
      document.body.appendChild(v)
      const loaded = new Promise<string>(resolve => {
        v.onloadeddata = () => resolve('ok')
        v.onerror = () => resolve(`error ${v.error?.code}: ${v.error?.message}`)
      })
      v.src = src
      const state = await loaded
      const canvas = document.createElement('canvas')
      canvas.width = v.videoWidth
      canvas.height = v.videoHeight
      const ctx = canvas.getContext('2d')!
      ctx.drawImage(v, 0, 0)
      const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data
      const mean = [0, 0, 0]
      for (let i = 0; i < pixels.length; i += 4) for (let k = 0; k < 3; k++) mean[k] += pixels[i + k] / (pixels.length / 4)
      await v.play()
      await new Promise<void>(resolve => { v.onended = () => resolve() })
      return { state, duration: v.duration, width: v.videoWidth, height: v.videoHeight, firstFrame: mean, currentTime: v.currentTime, audioBytes: (v as any).webkitAudioDecodedByteCount as number, videoBytes: (v as any).webkitVideoDecodedByteCount as number }
    }, `${origin}/${name}`)
    t.equal(seen.state, 'ok', 'loads without a media error')
    t.same([seen.width, seen.height], [video.width, video.height], 'at the declared size')
    t.ok(Math.abs(seen.duration - video.seconds) < 1 / 12, `lasts ${video.seconds} s within a frame (the browser says ${seen.duration} s)`)
    t.ok(Math.abs(seen.currentTime - seen.duration) < 0.1, 'played to the end')
    t.ok(seen.videoBytes > 0, 'the browser decoded the video track')
    if (video.audio) t.ok(seen.audioBytes > 0, `and the audio track (${seen.audioBytes} bytes)`)
    const decoded = await decodeKeyFrameWebm(video.bytes)
    const expected = meanColour(decoded.frames[0])
    t.ok(colourDistance(seen.firstFrame, expected) < 4, `the browser shows the rendered first frame (${seen.firstFrame.map(Math.round).join(',')} vs ${expected.map(Math.round).join(',')})`)
  })
}
