import { createHash } from 'node:crypto'

export type Rgb = [number, number, number]

/**
 * A PRNG (sfc32) seeded from a hash of the given parts: the renderers draw every choice from one
 * of these, so the same prompt, seed and inputs always give the same picture.
 */
export function seededRandom (...parts: Array<string | number>): () => number {
  const digest = createHash('sha256').update(parts.map(String).join('\u0000')).digest()
  let a = digest.readUInt32BE(0)
  let b = digest.readUInt32BE(4)
  let c = digest.readUInt32BE(8)
  let d = digest.readUInt32BE(12)
  return () => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

export function hsl (hue: number, saturation: number, lightness: number): Rgb {
  const h = ((hue % 360) + 360) % 360 / 60
  const s = Math.min(1, saturation)
  const l = Math.min(1, lightness)
  const chroma = (1 - Math.abs(2 * l - 1)) * s
  const x = chroma * (1 - Math.abs((h % 2) - 1))
  const m = l - chroma / 2
  const [r, g, b] = h < 1
    ? [chroma, x, 0]
    : h < 2
      ? [x, chroma, 0]
      : h < 3
        ? [0, chroma, x]
        : h < 4
          ? [0, x, chroma]
          : h < 5 ? [x, 0, chroma] : [chroma, 0, x]
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)]
}

/**
 * The 3×3 matrix that rotates hue by `degrees` while keeping luminance (the one CSS's hue-rotate()
 * uses). Linear, so the mean colour of the result is the matrix times the mean colour of the input,
 * wherever no channel clips.
 */
export function hueRotation (degrees: number): number[] {
  const a = degrees * Math.PI / 180
  const cos = Math.cos(a)
  const sin = Math.sin(a)
  return [
    0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715, 0.072 - cos * 0.072 + sin * 0.928,
    0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.140, 0.072 - cos * 0.072 - sin * 0.283,
    0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715, 0.072 + cos * 0.928 + sin * 0.072
  ]
}

export function clampByte (value: number): number {
  return value <= 0 ? 0 : value >= 255 ? 255 : Math.round(value)
}

/** The colour a prompt stands for in the video renderers' tints: the same prompt, the same colour. */
export function promptColour (prompt: string): Rgb {
  return hsl(seededRandom('tint', prompt)() * 360, 0.7, 0.5)
}
