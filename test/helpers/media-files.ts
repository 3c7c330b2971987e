// Small, real media files for input tests: each is what its type's header says it is.
import { crc32 } from 'node:zlib'
import { encodePng } from '@comfy-jobs/media'

/** A real PNG, `width`×`height`, coloured by `seed` (different seeds: different bytes). */
export function png (width: number, height: number, seed = 0): Buffer {
  const pixels = new Uint8Array(width * height * 3)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + seed * 31) % 256
  return encodePng({ width, height, pixels })
}

/**
 * A PNG signature and IHDR (with its CRC) claiming this size, and no image data: what a hostile
 * upload sends so that a decoder would allocate width×height pixels.
 */
export function pngHeaderClaiming (width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  const type = Buffer.from('IHDR')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(13)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([type, ihdr])))
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), length, type, ihdr, crc])
}

/** A JPEG's first segments: SOI, a JFIF APP0, an EXIF-sized APP1 of `metadataBytes`, then SOF0 of this size. */
export function jpegHeader (width: number, height: number, metadataBytes = 0): Buffer {
  const app0 = Buffer.from('ffe000104a46494600010100000100010000', 'hex')
  const app1 = metadataBytes > 0 ? Buffer.concat([Buffer.from([0xff, 0xe1, (metadataBytes + 2) >> 8, (metadataBytes + 2) & 0xff]), Buffer.alloc(metadataBytes, 0x45)]) : Buffer.alloc(0)
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01])
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, app1, sof, Buffer.alloc(32, 0x11)])
}

/** A lossy WebP's first bytes (RIFF, VP8 frame header) of this size. */
export function webpHeader (width: number, height: number): Buffer {
  const vp8 = Buffer.alloc(30)
  vp8.write('RIFF', 0, 'latin1')
  vp8.writeUInt32LE(22 + 32, 4)
  vp8.write('WEBPVP8 ', 8, 'latin1')
  vp8.writeUInt32LE(10 + 32, 16)
  vp8[20] = 0x10; vp8[21] = 0x02; vp8[22] = 0x00 // frame tag: key frame
  vp8[23] = 0x9d; vp8[24] = 0x01; vp8[25] = 0x2a
  vp8.writeUInt16LE(width, 26)
  vp8.writeUInt16LE(height, 28)
  return Buffer.concat([vp8, Buffer.alloc(32, 0x22)])
}

/** A real WAV: 16-bit mono PCM, `ms` milliseconds of a tone at 8 kHz. */
export function wav (ms: number, seed = 0): Buffer {
  const rate = 8000
  const samples = Math.round(rate * ms / 1000)
  const data = Buffer.alloc(samples * 2)
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(8000 * Math.sin((i + seed) * 2 * Math.PI * 440 / rate)), i * 2)
  const header = Buffer.alloc(44)
  header.write('RIFF', 0, 'latin1')
  header.writeUInt32LE(36 + data.length, 4)
  header.write('WAVEfmt ', 8, 'latin1')
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20)
  header.writeUInt16LE(1, 22)
  header.writeUInt32LE(rate, 24)
  header.writeUInt32LE(rate * 2, 28)
  header.writeUInt16LE(2, 32)
  header.writeUInt16LE(16, 34)
  header.write('data', 36, 'latin1')
  header.writeUInt32LE(data.length, 40)
  return Buffer.concat([header, data])
}

export function dataUrl (bytes: Buffer, type = 'image/png'): string {
  return `data:${type};base64,${bytes.toString('base64')}`
}
