import { hsl, seededRandom, type Rgb } from './colour.ts'

export interface PatternSpec {
  prompt: string
  seed: number
  width: number
  height: number
}

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
    const random = seededRandom(spec.prompt, spec.seed >>> 0, `${spec.width}x${spec.height}`)
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
      angle,
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

  /**
   * Fills rows [from, to) as the pattern looks at `time` (0 = the still picture; each unit turns
   * the gradient a little, moves the rings out by two periods and the stripes by one).
   */
  renderRows (from: number, to: number, time = 0): void {
    const { width, pixels, palette, height } = this
    const g = this.#g
    const ux = time === 0 ? g.ux : Math.cos(g.angle + time * 0.6)
    const uy = time === 0 ? g.uy : Math.sin(g.angle + time * 0.6)
    const [c0, c1, c2, c3] = palette
    const cx = width / 2
    const cy = height / 2
    for (let y = from; y < to; y++) {
      const dy = y - g.ringY
      let o = y * width * 3
      for (let x = 0; x < width; x++) {
        let t = ((x - cx) * ux + (y - cy) * uy) / g.diag + 0.5
        t = t < 0 ? 0 : t > 1 ? 1 : t
        let r = c0[0] + (c1[0] - c0[0]) * t
        let gr = c0[1] + (c1[1] - c0[1]) * t
        let b = c0[2] + (c1[2] - c0[2]) * t

        const dx = x - g.ringX
        const phase = Math.sqrt(dx * dx + dy * dy) / g.ringPeriod - time * 2
        const edge = Math.abs((phase - Math.floor(phase)) * 2 - 1)
        if (edge > 0.65) {
          const a = (edge - 0.65) * 1.6
          r += (c2[0] - r) * a
          gr += (c2[1] - gr) * a
          b += (c2[2] - b) * a
        }

        const s = (x * g.stripeX + y * g.stripeY) / g.stripePeriod + time
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
  angle: number
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
