import { loadSharp } from './lazy-modules.ts'
import { MediaError } from './media-error.ts'
import type { RgbImage } from './rgb-image.ts'

/**
 * A lossy WebP is a RIFF wrapper around one VP8 key frame, and a VP8 key frame is a valid frame of a
 * VP8 video. So libwebp (inside sharp's prebuilt binary) is a VP8 encoder for all-key-frame video,
 * with no codec on the user's machine. Effort 0 is libwebp's fastest method; at the sizes we render
 * it costs a few milliseconds a frame (see docs/architecture.md for the measured figures).
 */
export async function encodeVp8KeyFrame (image: RgbImage, quality = 80): Promise<Uint8Array> {
  const sharp = await loadSharp()
  const webp = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .webp({ quality, effort: 0 })
    .toBuffer()
  const frame = riffChunk(webp, 'VP8 ')
  if (frame === null) throw new MediaError('libwebp did not produce a lossy (VP8) WebP')
  return frame
}

/** The inverse: wraps a VP8 key frame as a WebP file, which any image decoder reads. */
export function webpFromVp8KeyFrame (frame: Uint8Array): Buffer {
  const padded = frame.length + (frame.length & 1)
  const out = Buffer.alloc(20 + padded)
  out.write('RIFF', 0, 'latin1')
  out.writeUInt32LE(12 + padded, 4)
  out.write('WEBPVP8 ', 8, 'latin1')
  out.writeUInt32LE(frame.length, 16)
  out.set(frame, 20)
  return out
}

/** The payload of the first chunk with this id in a RIFF/WEBP file, or null. */
function riffChunk (file: Buffer, id: string): Uint8Array | null {
  let offset = 12
  while (offset + 8 <= file.length) {
    const size = file.readUInt32LE(offset + 4)
    if (file.toString('latin1', offset, offset + 4) === id) return file.subarray(offset + 8, offset + 8 + size)
    offset += 8 + size + (size & 1)
  }
  return null
}
