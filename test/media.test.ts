// packages/media: probing every output type, decoding inputs, and the WebM writer, on real bytes.
import t from 'tap'
import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import { BufferTarget, EncodedAudioPacketSource, EncodedPacket, OggOutputFormat, Output } from 'mediabunny'
import {
  audioDurationMs, decodeAudio, decodeImage, loudnessPerFrame, MediaError, OpusEncoder, probeMedia, WebmWriter, type PcmAudio
} from '@comfy-jobs/media'
import { colourDistance, decodeKeyFrameWebm, encodeAs, meanColour, paint, wav } from './helpers/media.ts'

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/media/${name}`, import.meta.url))
const gradient = paint(96, 64, (x, y) => [x * 2, y * 3, 120])

t.test('probeMedia tells the kind, type and size of still images', async t => {
  for (const [format, mime] of [['png', 'image/png'], ['jpeg', 'image/jpeg'], ['webp', 'image/webp'], ['gif', 'image/gif']] as const) {
    t.same(await probeMedia(await encodeAs(gradient, format)), { kind: 'image', mime, width: 96, height: 64 }, format)
  }
})

t.test('an animated WebP, GIF or PNG is a video: its frames and the sum of their delays', async t => {
  const pages = [0, 1, 2, 3, 4].map(i => sharp(paint(40, 30, () => [i * 50, 0, 0]).pixels, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer())
  const frames = await Promise.all(pages)
  for (const format of ['webp', 'gif'] as const) {
    const animated = await sharp(frames, { join: { animated: true } })[format]({ delay: [100, 120, 140, 160, 180], loop: 0 }).toBuffer()
    t.same(await probeMedia(animated), { kind: 'video', mime: `image/${format}`, width: 40, height: 30, frames: 5, duration_ms: 700 }, format)
  }
  t.same(await probeMedia(fixture('anim-32x24-4frames-800ms.png')), { kind: 'video', mime: 'image/png', width: 32, height: 24, frames: 4, duration_ms: 800 }, 'an APNG')
  const instant = await sharp(frames, { join: { animated: true } }).gif({ delay: [0, 0, 0, 0, 500], loop: 0 }).toBuffer()
  t.equal((await probeMedia(instant)).duration_ms, 900, 'a GIF frame without a delay shows for 100 ms, as browsers play it')
})

t.test('containers and audio files made by other encoders', async t => {
  t.match(await probeMedia(fixture('clip-64x48-8frames.mp4')), { kind: 'video', mime: 'video/mp4', width: 64, height: 48, frames: 8 })
  const mp4 = await probeMedia(fixture('clip-64x48-8frames.mp4'))
  t.ok(Math.abs(mp4.duration_ms! - 1000) <= 50, `mp4 lasts about 1 s (${mp4.duration_ms} ms)`)
  const cases = [
    ['tone-1500ms.mp3', 'audio/mpeg', 1500],
    ['tone-750ms.flac', 'audio/flac', 750],
    ['tone-1250ms.opus', 'audio/ogg', 1250]
  ] as const
  for (const [name, mime, ms] of cases) {
    const probe = await probeMedia(fixture(name))
    t.match(probe, { kind: 'audio', mime, width: 0, height: 0 }, name)
    t.ok(Math.abs(probe.duration_ms! - ms) <= 80, `${name} lasts ${ms} ms, probed ${probe.duration_ms} ms`)
    t.notOk('frames' in probe, 'audio has no frame count')
  }
  const wave = await probeMedia(wav(0.5, () => 0))
  t.same(wave, { kind: 'audio', mime: 'audio/wav', width: 0, height: 0, duration_ms: 500 })
})

t.test('bytes that are no media are refused with a MediaError', async t => {
  await t.rejects(probeMedia(Buffer.from('{"not": "media"}')), MediaError)
  await t.rejects(probeMedia(Buffer.alloc(0)), MediaError)
  const png = await encodeAs(gradient, 'png')
  await t.rejects(probeMedia(png.subarray(0, 30)), MediaError, 'a truncated PNG')
  await t.rejects(decodeImage(png.subarray(0, 60)), MediaError)
  await t.rejects(decodeAudio(Buffer.from('ID3 but nothing else')), MediaError)
  await t.rejects(decodeAudio(Buffer.from('OggS and more bytes')), /WAV or MP3/)
})

t.test('decodeImage gives sRGB pixels, transparency on white, large images scaled down', async t => {
  const rgba = await sharp(Buffer.alloc(4 * 4 * 4, 0), { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer()
  const flat = await decodeImage(rgba)
  t.same([...flat.pixels.subarray(0, 3)], [255, 255, 255], 'a transparent pixel is white')
  const grey = await sharp(Buffer.alloc(8 * 8, 90), { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer()
  const rgb = await decodeImage(grey)
  t.equal(rgb.pixels.length, 8 * 8 * 3, 'grey becomes three channels')
  t.same([...rgb.pixels.subarray(0, 3)], [90, 90, 90])
  const big = await decodeImage(await encodeAs(paint(400, 100, () => [10, 20, 30]), 'png'), { maxSide: 200 })
  t.same([big.width, big.height], [200, 50], 'fits maxSide, aspect kept')
})

t.test('decodeAudio reads WAV in every common sample format, and MP3', async t => {
  const tone = (s: number): number => 0.5 * Math.sin(2 * Math.PI * 300 * s)
  const pcm16 = await decodeAudio(wav(0.25, tone, 8000))
  t.equal(pcm16.sampleRate, 8000)
  t.equal(audioDurationMs(pcm16), 250)
  t.ok(Math.abs(pcm16.channels[0][10] - tone(10 / 8000)) < 1e-3, '16-bit samples scaled to [-1, 1]')
  for (const [bits, format] of [[8, 1], [24, 1], [32, 1], [32, 3]]) {
    const n = 100
    const body = Buffer.alloc(n * bits / 8)
    for (let i = 0; i < n; i++) {
      const v = tone(i / 8000)
      if (bits === 8) body[i] = Math.round(v * 127) + 128
      else if (bits === 24) body.writeIntLE(Math.round(v * 8388607), i * 3, 3)
      else if (format === 1) body.writeInt32LE(Math.round(v * 2147483647), i * 4)
      else body.writeFloatLE(v, i * 4)
    }
    const header = wav(0, () => 0, 8000)
    header.writeUInt16LE(format, 20)
    header.writeUInt32LE(8000 * bits / 8, 28)
    header.writeUInt16LE(bits / 8, 32)
    header.writeUInt16LE(bits, 34)
    header.writeUInt32LE(body.length, 40)
    header.writeUInt32LE(36 + body.length, 4)
    const decoded = await decodeAudio(Buffer.concat([header, body]))
    t.equal(decoded.channels[0].length, n, `${bits}-bit format ${format}: every sample`)
    t.ok(Math.abs(decoded.channels[0][37] - tone(37 / 8000)) < 0.01, `${bits}-bit format ${format}: the right values`)
  }
  const mp3 = await decodeAudio(fixture('tone-1500ms.mp3'))
  t.equal(mp3.sampleRate, 22050)
  t.ok(Math.abs(audioDurationMs(mp3) - 1500) <= 30, `the MP3 decodes to 1.5 s without encoder padding (${audioDurationMs(mp3)} ms)`)
  t.ok(Math.max(...mp3.channels[0].subarray(5000, 6000)) > 0.1, 'and holds the tone (ffmpeg\'s sine peaks at 1/8)')
})

t.test('loudness per frame: silence is closed, a loud tone fully open, the scale in decibels', async t => {
  const audio: PcmAudio = { sampleRate: 1000, channels: [new Float32Array(3000)] }
  for (let i = 1000; i < 2000; i++) audio.channels[0][i] = Math.sin(i) * 0.01 * Math.SQRT2 // -40 dBFS RMS
  for (let i = 2000; i < 3000; i++) audio.channels[0][i] = i % 2 === 0 ? 0.9 : -0.9
  const loud = loudnessPerFrame(audio, 1, 3)
  t.equal(loud[0], 0, 'silence')
  t.ok(Math.abs(loud[1] - 0.25) < 0.03, `-40 dBFS is a quarter open (${loud[1]})`)
  t.equal(loud[2], 1, 'loud')
})

t.test('WebmWriter: VP8 key frames that decode back to the frames given, at the declared size and rate', async t => {
  const colours: Array<[number, number, number]> = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 40], [90, 90, 90]]
  const write = async (): Promise<Buffer> => {
    const writer = await WebmWriter.open({ width: 64, height: 48, fps: 10 })
    for (const c of colours) await writer.addFrame(paint(64, 48, () => c))
    return await writer.finish()
  }
  const bytes = await write()
  t.same(await probeMedia(bytes), { kind: 'video', mime: 'video/webm', width: 64, height: 48, duration_ms: 500, frames: 5 })
  const video = await decodeKeyFrameWebm(bytes)
  t.same(video.timestamps, [0, 0.1, 0.2, 0.3, 0.4])
  colours.forEach((c, i) => t.ok(colourDistance(meanColour(video.frames[i]), c) < 6, `frame ${i} is ${c.join(',')} (got ${meanColour(video.frames[i]).map(Math.round).join(',')})`))
  t.ok((await write()).equals(bytes), 'the same frames give the same bytes')
  const writer = await WebmWriter.open({ width: 64, height: 48, fps: 10 })
  await t.rejects(writer.addFrame(paint(32, 32, () => [0, 0, 0])), /32x32, the video is 64x48/)
  await t.rejects(writer.finish(), /at least one frame/)
  await writer.close()
})

t.test('WebmWriter with audio: Opus muxed in, and the video ends when the audio does', async t => {
  const seconds = 1.37
  const audio = await decodeAudio(wav(seconds, s => 0.3 * Math.sin(2 * Math.PI * 440 * s), 44_100))
  const fps = 12
  const frames = Math.ceil(seconds * fps)
  const writer = await WebmWriter.open({ width: 32, height: 32, fps, audio })
  for (let i = 0; i < frames; i++) await writer.addFrame(paint(32, 32, () => [i * 10, 0, 0]))
  const bytes = await writer.finish()
  const probe = await probeMedia(bytes)
  t.match(probe, { kind: 'video', mime: 'video/webm', frames })
  t.ok(Math.abs(probe.duration_ms! - seconds * 1000) < 1000 / fps, `lasts the audio's ${seconds * 1000} ms within a frame (${probe.duration_ms} ms)`)
  const video = await decodeKeyFrameWebm(bytes)
  t.equal(video.audioCodec, 'opus')
  t.equal(video.frames.length, frames)
})

t.test('OpusEncoder covers the whole audio, in 20 ms packets, whatever the input rate', async t => {
  for (const rate of [8000, 22050, 48000]) {
    const encoder = await OpusEncoder.create({ sampleRate: rate, channels: [new Float32Array(rate / 2)] })
    const first = encoder.encodeUntil(0.1)
    t.equal(first.length, 5, `${rate} Hz: packets up to 100 ms`)
    const rest = encoder.encodeUntil()
    const all = [...first, ...rest]
    t.ok(encoder.done)
    t.same(all.map(p => p.timestamp), all.map((_p, i) => i * 0.02), 'consecutive')
    t.ok(all.length * 0.02 >= 0.5 && all.length * 0.02 < 0.5 + 0.04, `${all.length} packets cover 0.5 s and the encoder's look-ahead`)
    encoder.close()
  }
  // Our packets in an Ogg file, read back by the probe: a second, independent reader of the stream.
  const encoder = await OpusEncoder.create({ sampleRate: 48000, channels: [new Float32Array(48000)] })
  const output = new Output({ format: new OggOutputFormat(), target: new BufferTarget() })
  const source = new EncodedAudioPacketSource('opus')
  output.addAudioTrack(source)
  await output.start()
  for (const [i, p] of encoder.encodeUntil().entries()) {
    await source.add(new EncodedPacket(p.data, 'key', p.timestamp, p.duration), i === 0 ? { decoderConfig: { codec: 'opus', numberOfChannels: 1, sampleRate: 48000, description: encoder.head } } : undefined)
  }
  await output.finalize()
  encoder.close()
  const probe = await probeMedia(new Uint8Array(output.target.buffer!))
  t.match(probe, { kind: 'audio', mime: 'audio/ogg' })
  t.ok(Math.abs(probe.duration_ms! - 1000) <= 20, `1 s of Opus (${probe.duration_ms} ms)`)
})
