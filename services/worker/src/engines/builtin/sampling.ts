import type { RgbImage } from '@comfy-jobs/media'
import type { Rgb } from './colour.ts'

/**
 * Writes the colour of `image` at (x, y), bilinearly interpolated, edges extended, to out[o..o+2].
 */
export function sampleInto (image: RgbImage, x: number, y: number, out: Float32Array | Uint8Array, o: number): void {
  const { width, height, pixels } = image
  const cx = x < 0 ? 0 : x > width - 1 ? width - 1 : x
  const cy = y < 0 ? 0 : y > height - 1 ? height - 1 : y
  const x0 = Math.floor(cx)
  const y0 = Math.floor(cy)
  const x1 = x0 + 1 < width ? x0 + 1 : x0
  const y1 = y0 + 1 < height ? y0 + 1 : y0
  const fx = cx - x0
  const fy = cy - y0
  const a = (y0 * width + x0) * 3
  const b = (y0 * width + x1) * 3
  const c = (y1 * width + x0) * 3
  const d = (y1 * width + x1) * 3
  for (let k = 0; k < 3; k++) {
    const top = pixels[a + k] + (pixels[b + k] - pixels[a + k]) * fx
    const bottom = pixels[c + k] + (pixels[d + k] - pixels[c + k]) * fx
    out[o + k] = top + (bottom - top) * fy
  }
}

/**
 * Renders `image` zoomed by `zoom` (≥ 1) about the point (fx, fy) given as fractions of its size,
 * bilinearly. The source columns and rows of a zoom are the same for every row and column, so they
 * are worked out once: this runs for every pixel of every frame of a video.
 */
export function zoomInto (image: RgbImage, zoom: number, fx: number, fy: number, out: Float32Array): void {
  const { width, height, pixels } = image
  const cols = taps(width, fx * width, zoom)
  const rows = taps(height, fy * height, zoom)
  for (let y = 0; y < height; y++) {
    const r0 = rows.from[y] * width * 3
    const r1 = rows.to[y] * width * 3
    const wy = rows.weight[y]
    let o = y * width * 3
    for (let x = 0; x < width; x++) {
      const c0 = cols.from[x] * 3
      const c1 = cols.to[x] * 3
      const wx = cols.weight[x]
      for (let k = 0; k < 3; k++) {
        const top = pixels[r0 + c0 + k] + (pixels[r0 + c1 + k] - pixels[r0 + c0 + k]) * wx
        const bottom = pixels[r1 + c0 + k] + (pixels[r1 + c1 + k] - pixels[r1 + c0 + k]) * wx
        out[o++] = top + (bottom - top) * wy
      }
    }
  }
}

/** For each output index along one axis: the two source indices to blend and the second one's weight. */
function taps (size: number, centre: number, zoom: number): { from: Int32Array, to: Int32Array, weight: Float32Array } {
  const from = new Int32Array(size)
  const to = new Int32Array(size)
  const weight = new Float32Array(size)
  for (let i = 0; i < size; i++) {
    const raw = centre + (i + 0.5 - centre) / zoom - 0.5
    const s = raw < 0 ? 0 : raw > size - 1 ? size - 1 : raw
    from[i] = Math.floor(s)
    to[i] = Math.min(size - 1, from[i] + 1)
    weight[i] = s - from[i]
  }
  return { from, to, weight }
}

/** The centred square whose side is `fraction` of the image's smaller side. */
export function cropCentre (image: RgbImage, fraction: number): RgbImage {
  const side = Math.max(1, Math.round(Math.min(image.width, image.height) * fraction))
  const left = Math.floor((image.width - side) / 2)
  const top = Math.floor((image.height - side) / 2)
  const pixels = new Uint8Array(side * side * 3)
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * image.width + left) * 3
    pixels.set(image.pixels.subarray(from, from + side * 3), y * side * 3)
  }
  return { width: side, height: side, pixels }
}

/** out = out·(1 − amount) + colour·amount, for every pixel. */
export function tint (out: Float32Array, colour: Rgb, amount: number): void {
  if (amount <= 0) return
  for (let i = 0; i < out.length; i += 3) {
    out[i] += (colour[0] - out[i]) * amount
    out[i + 1] += (colour[1] - out[i + 1]) * amount
    out[i + 2] += (colour[2] - out[i + 2]) * amount
  }
}

/** Rounds float pixels into an 8-bit frame. */
export function toBytes (from: Float32Array, into: Uint8Array): void {
  for (let i = 0; i < from.length; i++) {
    const v = from[i]
    into[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v)
  }
}
