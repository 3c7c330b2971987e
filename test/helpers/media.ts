// Inputs made from scratch and outputs read back, for the tests of packages/media and the built-in engine.
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from 'mediabunny'
import sharp from 'sharp'
import { webpFromVp8KeyFrame, type RgbImage } from '@comfy-jobs/media'

export type Rgb = [number, number, number]

/** An RGB image whose pixels are paint(x, y). */
export function paint (width: number, height: number, colour: (x: number, y: number) => Rgb): RgbImage {
  const pixels = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3)
  return { width, height, pixels }
}

export async function encodeAs (image: RgbImage, format: 'png' | 'jpeg' | 'webp' | 'gif'): Promise<Buffer> {
  const s = sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
  return await (format === 'png' ? s.png() : format === 'jpeg' ? s.jpeg({ quality: 95 }) : format === 'webp' ? s.webp({ quality: 95 }) : s.gif()).toBuffer()
}

export async function decode (bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { width: info.width, height: info.height, pixels: new Uint8Array(data) }
}

/** The mean colour of a box (the whole image by default). */
export function meanColour (image: RgbImage, box = { x: 0, y: 0, width: image.width, height: image.height }): Rgb {
  const sum = [0, 0, 0]
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) {
      const o = (y * image.width + x) * 3
      for (let k = 0; k < 3; k++) sum[k] += image.pixels[o + k]
    }
  }
  const n = box.width * box.height
  return [sum[0] / n, sum[1] / n, sum[2] / n]
}

/** The largest difference between two colours' channels. */
export function colourDistance (a: number[], b: number[]): number {
  return Math.max(...a.map((v, k) => Math.abs(v - b[k])))
}

/** Mean absolute difference per channel between two same-sized images. */
export function meanAbsDiff (a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`sizes differ: ${a.width}x${a.height} vs ${b.width}x${b.height}`)
  let sum = 0
  for (let i = 0; i < a.pixels.length; i++) sum += Math.abs(a.pixels[i] - b.pixels[i])
  return sum / a.pixels.length
}

/** A mono 16-bit WAV whose sample i is sample(i / rate) (clipped to [-1, 1]). */
export function wav (seconds: number, sample: (t: number) => number, rate = 16_000): Buffer {
  const n = Math.round(seconds * rate)
  const out = Buffer.alloc(44 + n * 2)
  out.write('RIFF', 0, 'latin1')
  out.writeUInt32LE(36 + n * 2, 4)
  out.write('WAVEfmt ', 8, 'latin1')
  out.writeUInt32LE(16, 16)
  out.writeUInt16LE(1, 20)
  out.writeUInt16LE(1, 22)
  out.writeUInt32LE(rate, 24)
  out.writeUInt32LE(rate * 2, 28)
  out.writeUInt16LE(2, 32)
  out.writeUInt16LE(16, 34)
  out.write('data', 36, 'latin1')
  out.writeUInt32LE(n * 2, 40)
  for (let i = 0; i < n; i++) out.writeInt16LE(Math.round(Math.max(-1, Math.min(1, sample(i / rate))) * 32767), 44 + i * 2)
  return out
}

export interface DecodedVideo {
  width: number
  height: number
  /** seconds */
  timestamps: number[]
  frames: RgbImage[]
  audioCodec: string | null
}

/**
 * Reads every frame of a WebM whose frames are all VP8 key frames (what the built-in engine
 * writes): each key frame is a lossy WebP bitstream, so an image decoder reads it.
 */
export async function decodeKeyFrameWebm (bytes: Uint8Array): Promise<DecodedVideo> {
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS })
  try {
    const track = await input.getPrimaryVideoTrack()
    if (track === null) throw new Error('no video track')
    if (track.codec !== 'vp8') throw new Error(`video codec is ${track.codec}, not vp8`)
    const frames: RgbImage[] = []
    const timestamps: number[] = []
    for await (const packet of new EncodedPacketSink(track).packets()) {
      if (packet.type !== 'key') throw new Error(`frame at ${packet.timestamp}s is not a key frame`)
      timestamps.push(packet.timestamp)
      frames.push(await decode(webpFromVp8KeyFrame(packet.data)))
    }
    const audio = await input.getPrimaryAudioTrack()
    return { width: await track.getDisplayWidth(), height: await track.getDisplayHeight(), timestamps, frames, audioCodec: audio?.codec ?? null }
  } finally {
    input.dispose()
  }
}
