import { createHash } from 'node:crypto'

export interface PatternSpec {
  prompt: string
  seed: number
  width: number
  height: number
}

type Rgb = [number, number, number]

/**
 * A procedural picture derived only from prompt, seed and size: a two-colour gradient, concentric
 * rings and diagonal stripes, with palette and geometry taken from a hash of the inputs. Rendered in
 * row bands so the caller can spread the work over steps.
 */
export class TestPattern {
  readonly width: number
  readonly height: number
  readonly pixels: Uint8Array
  readonly palette: Rgb[]
  readonly #g: Geometry

  constructor (spec: PatternSpec) {
    this.width = spec.width
    this.height = spec.height
    this.pixels = new Uint8Array(spec.width * spec.height * 3)
    const random = randomFrom(createHash('sha256')
      .update(`${spec.prompt}\u0000${spec.seed >>> 0}\u0000${spec.width}x${spec.height}`)
      .digest())
    const hue = random() * 360
    this.palette = [
      hsl(hue, 0.55 + random() * 0.35, 0.18 + random() * 0.2),
      hsl(hue + 90 + random() * 180, 0.5 + random() * 0.4, 0.55 + random() * 0.25),
      hsl(hue + 30 + random() * 60, 0.6 + random() * 0.4, 0.5 + random() * 0.3),
      hsl(hue + 180 + random() * 40, 0.3 + random() * 0.5, 0.75 + random() * 0.2)
    ]
    const size = Math.min(spec.width, spec.height)
    const angle = random() * Math.PI * 2
    const stripeAngle = random() * Math.PI * 2
    this.#g = {
      ux: Math.cos(angle),
      uy: Math.sin(angle),
      diag: Math.hypot(spec.width, spec.height),
      ringX: spec.width * (0.2 + random() * 0.6),
      ringY: spec.height * (0.2 + random() * 0.6),
      ringPeriod: size * (0.04 + random() * 0.1),
      stripeX: Math.cos(stripeAngle),
      stripeY: Math.sin(stripeAngle),
      stripePeriod: size * (0.05 + random() * 0.15),
      stripeWidth: 0.08 + random() * 0.2
    }
  }

  /** Fills rows [from, to). */
  renderRows (from: number, to: number): void {
    const { width, pixels, palette, height } = this
    const g = this.#g
    const [c0, c1, c2, c3] = palette
    const cx = width / 2
    const cy = height / 2
    for (let y = from; y < to; y++) {
      const dy = y - g.ringY
      let o = y * width * 3
      for (let x = 0; x < width; x++) {
        let t = ((x - cx) * g.ux + (y - cy) * g.uy) / g.diag + 0.5
        t = t < 0 ? 0 : t > 1 ? 1 : t
        let r = c0[0] + (c1[0] - c0[0]) * t
        let gr = c0[1] + (c1[1] - c0[1]) * t
        let b = c0[2] + (c1[2] - c0[2]) * t

        const dx = x - g.ringX
        const phase = Math.sqrt(dx * dx + dy * dy) / g.ringPeriod
        const edge = Math.abs((phase - Math.floor(phase)) * 2 - 1)
        if (edge > 0.65) {
          const a = (edge - 0.65) * 1.6
          r += (c2[0] - r) * a
          gr += (c2[1] - gr) * a
          b += (c2[2] - b) * a
        }

        const s = (x * g.stripeX + y * g.stripeY) / g.stripePeriod
        if (s - Math.floor(s) < g.stripeWidth) {
          r += (c3[0] - r) * 0.3
          gr += (c3[1] - gr) * 0.3
          b += (c3[2] - b) * 0.3
        }

        pixels[o++] = r
        pixels[o++] = gr
        pixels[o++] = b
      }
    }
  }
}

interface Geometry {
  ux: number
  uy: number
  diag: number
  ringX: number
  ringY: number
  ringPeriod: number
  stripeX: number
  stripeY: number
  stripePeriod: number
  stripeWidth: number
}

/** sfc32 seeded with the first 16 bytes of the digest: a small PRNG whose output depends only on them. */
function randomFrom (digest: Buffer): () => number {
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

function hsl (hue: number, saturation: number, lightness: number): Rgb {
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
