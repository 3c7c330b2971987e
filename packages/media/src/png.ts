import { crc32, deflateSync } from 'node:zlib'
import type { RgbImage } from './rgb-image.ts'

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
const COLOR_TYPE_RGB = 2
const FILTER_SUB = 1

export interface PngOptions {
  /** tEXt chunks; keys and values must be Latin-1 */
  text?: Record<string, string>
  /** zlib level; low levels are several times faster and still shrink smooth images well */
  level?: number
}

/** Encodes 8-bit RGB pixels as a PNG. Same input and options ⇒ same bytes. */
export function encodePng (image: RgbImage, options: PngOptions = {}): Buffer {
  const { width, height, pixels } = image
  if (pixels.length !== width * height * 3) {
    throw new Error(`pixel buffer has ${pixels.length} bytes, expected ${width * height * 3} for ${width}x${height} RGB`)
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = COLOR_TYPE_RGB
  // compression, filter method, interlace: all 0

  const chunks = [chunk('IHDR', ihdr)]
  for (const [key, value] of Object.entries(options.text ?? {})) {
    chunks.push(chunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')])))
  }
  chunks.push(chunk('IDAT', deflateSync(filterRows(image), { level: options.level ?? 1 })))
  chunks.push(chunk('IEND', Buffer.alloc(0)))
  return Buffer.concat([SIGNATURE, ...chunks])
}

/** The Sub filter on every row: gradients become runs of small repeated deltas, which deflate loves. */
function filterRows ({ width, height, pixels }: RgbImage): Buffer {
  const stride = width * 3
  const out = Buffer.allocUnsafe((stride + 1) * height)
  for (let y = 0; y < height; y++) {
    const src = y * stride
    let dst = y * (stride + 1)
    out[dst++] = FILTER_SUB
    for (let i = 0; i < stride; i++) {
      out[dst + i] = i < 3 ? pixels[src + i] : (pixels[src + i] - pixels[src + i - 3]) & 0xff
    }
  }
  return out
}

function chunk (type: string, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'latin1')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}
