/**
 * An image's type and size read from its first bytes, without decoding it: so a file that claims
 * 100000×100000 pixels is refused before anything allocates them.
 */

export type HeaderImageType = 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif'

export interface ImageHeader {
  mime: HeaderImageType
  width: number
  height: number
}

/** Why no size could be read: `truncated` when more bytes might still hold it. */
export interface HeaderProblem {
  problem: 'not-an-image' | 'truncated' | 'malformed'
  message: string
}

export type HeaderResult = ImageHeader | HeaderProblem

/** Enough for every format but JPEG, whose size comes after its metadata segments (EXIF: up to 64 KiB each). */
export const IMAGE_HEADER_BYTES = 64

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export function isHeaderProblem (result: HeaderResult): result is HeaderProblem {
  return 'problem' in result
}

const truncated = (format: string): HeaderProblem => ({ problem: 'truncated', message: `the ${format} header is cut short` })
const malformed = (format: string, what: string): HeaderProblem => ({ problem: 'malformed', message: `the ${format} header is malformed: ${what}` })

function sized (mime: HeaderImageType, width: number, height: number, format: string): HeaderResult {
  if (width === 0 || height === 0) return malformed(format, `it says ${width}×${height} pixels`)
  return { mime, width, height }
}

function png (head: Buffer): HeaderResult {
  if (head.length < 24) return truncated('PNG')
  if (head.toString('latin1', 12, 16) !== 'IHDR') return malformed('PNG', 'the first chunk is not IHDR')
  return sized('image/png', head.readUInt32BE(16), head.readUInt32BE(20), 'PNG')
}

function gif (head: Buffer): HeaderResult {
  if (head.length < 10) return truncated('GIF')
  return sized('image/gif', head.readUInt16LE(6), head.readUInt16LE(8), 'GIF')
}

/** SOF0…SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not. */
function isStartOfFrame (marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
}

function jpeg (head: Buffer): HeaderResult {
  let i = 2
  for (;;) {
    if (i + 4 > head.length) return truncated('JPEG')
    if (head[i] !== 0xff) return malformed('JPEG', `no segment marker at byte ${i}`)
    let marker = head[i + 1]
    while (marker === 0xff) { // fill bytes
      i++
      if (i + 4 > head.length) return truncated('JPEG')
      marker = head[i + 1]
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue }
    if (marker === 0xd9 || marker === 0xda) return malformed('JPEG', 'the image data starts before its size is given')
    const length = head.readUInt16BE(i + 2)
    if (length < 2) return malformed('JPEG', `a segment of length ${length}`)
    if (isStartOfFrame(marker)) {
      if (i + 9 > head.length) return truncated('JPEG')
      return sized('image/jpeg', head.readUInt16BE(i + 7), head.readUInt16BE(i + 5), 'JPEG')
    }
    i += 2 + length
  }
}

function webp (head: Buffer): HeaderResult {
  if (head.length < 30) return truncated('WebP')
  const chunk = head.toString('latin1', 12, 16)
  if (chunk === 'VP8 ') {
    if (head[23] !== 0x9d || head[24] !== 0x01 || head[25] !== 0x2a) return malformed('WebP', 'no VP8 start code')
    return sized('image/webp', head.readUInt16LE(26) & 0x3fff, head.readUInt16LE(28) & 0x3fff, 'WebP')
  }
  if (chunk === 'VP8L') {
    if (head[20] !== 0x2f) return malformed('WebP', 'no VP8L signature')
    const bits = head.readUInt32LE(21)
    return sized('image/webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1, 'WebP')
  }
  if (chunk === 'VP8X') return sized('image/webp', head.readUIntLE(24, 3) + 1, head.readUIntLE(27, 3) + 1, 'WebP')
  return malformed('WebP', `unknown chunk ${JSON.stringify(chunk)}`)
}

/** The image's type and size from its first bytes (IMAGE_HEADER_BYTES, more for a JPEG with large metadata). */
export function readImageHeader (head: Buffer): HeaderResult {
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG_SIGNATURE)) return png(head)
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return jpeg(head)
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return webp(head)
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.toString('latin1', 0, 6))) return gif(head)
  return { problem: 'not-an-image', message: 'the content is not a PNG, JPEG, WebP or GIF image' }
}
