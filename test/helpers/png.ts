import { inflateSync } from 'node:zlib'

/** Width and height from a PNG's IHDR; throws if the bytes are not a PNG. */
export function pngSize (buf: Buffer): { width: number, height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  if (buf.length < 24 || !buf.subarray(0, 8).equals(signature)) throw new Error('not a PNG')
  if (buf.subarray(12, 16).toString('latin1') !== 'IHDR') throw new Error('PNG without IHDR first')
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) }
}

/** 8-bit RGB(A), non-interlaced PNG → RGB pixels (what ComfyUI's SaveImage writes); throws on anything else. */
export function decodePng (buf: Buffer): { width: number, height: number, pixels: Uint8Array } {
  const { width, height } = pngSize(buf)
  const depth = buf[24]
  const colorType = buf[25]
  const channels = colorType === 2 ? 3 : colorType === 6 ? 4 : 0
  if (depth !== 8 || channels === 0 || buf[28] !== 0) throw new Error(`PNG not 8-bit RGB/RGBA non-interlaced (depth ${depth}, colour type ${colorType})`)
  const idat: Buffer[] = []
  for (let at = 8; at < buf.length;) {
    const length = buf.readUInt32BE(at)
    const type = buf.subarray(at + 4, at + 8).toString('latin1')
    if (type === 'IDAT') idat.push(buf.subarray(at + 8, at + 8 + length))
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const rows = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? rows[y * stride + x - channels] : 0
      const b = y > 0 ? rows[(y - 1) * stride + x] : 0
      const c = x >= channels && y > 0 ? rows[(y - 1) * stride + x - channels] : 0
      const p = a + b - c
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]
      if (predictor === undefined) throw new Error(`PNG filter ${filter} unknown`)
      rows[y * stride + x] = (line[x] + predictor) & 0xff
    }
  }
  const pixels = new Uint8Array(width * height * 3)
  for (let i = 0; i < width * height; i++) pixels.set(rows.subarray(i * channels, i * channels + 3), i * 3)
  return { width, height, pixels }
}
