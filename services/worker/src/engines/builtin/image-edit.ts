import { blankImage, resizeImage, type RgbImage } from '@comfy-jobs/media'
import { clampByte, hueRotation, seededRandom } from './colour.ts'
import { sampleInto } from './sampling.ts'
import { MAX_IMAGE_SIDE, type Declared, type ImageWorkflow } from './workflow.ts'

/** A prompt that asks for one of these gets the warp; any other prompt recolours. */
const WARP_WORDS = /\b(warp(ed)?|swirl|twist(ed)?|wave|wavy|ripple|distort(ed)?|melt(ing)?|bend)\b/i

/**
 * single_image_edit: recolours (rotates every hue by an angle the prompt and seed choose) or, when
 * the prompt asks for it, warps the input with a sine displacement. An optional `mask` limits the
 * edit to its white parts (grey blends).
 */
export const imageEdit: ImageWorkflow = {
  output: 'image',
  kind: 'image-edit',
  async plan ({ job, inputs, seed }) {
    const source = await inputs.image('input', MAX_IMAGE_SIDE)
    const mask = inputs.has('mask') ? await resizeImage(await inputs.image('mask', MAX_IMAGE_SIDE), source.width, source.height) : null
    const random = seededRandom('single_image_edit', job.prompt, seed)
    const out = blankImage(source.width, source.height)
    const edit = WARP_WORDS.test(job.prompt) ? warp(source, random) : recolour(source, random)
    return {
      image: out,
      renderRows (from, to) {
        const edited = new Float32Array(3)
        const { width, pixels } = source
        for (let y = from; y < to; y++) {
          for (let x = 0; x < width; x++) {
            const o = (y * width + x) * 3
            edit.pixel(x, y, o, edited)
            const m = mask === null ? 1 : (mask.pixels[o] * 0.2126 + mask.pixels[o + 1] * 0.7152 + mask.pixels[o + 2] * 0.0722) / 255
            for (let k = 0; k < 3; k++) out.pixels[o + k] = clampByte(pixels[o + k] + (edited[k] - pixels[o + k]) * m)
          }
        }
      },
      declared: { seed, ...edit.declared, masked: mask !== null }
    }
  }
}

interface Edit {
  pixel: (x: number, y: number, o: number, out: Float32Array) => void
  declared: Declared
}

function recolour (source: RgbImage, random: () => number): Edit {
  const degrees = Math.round((60 + random() * 240) * 10) / 10
  const m = hueRotation(degrees)
  const p = source.pixels
  return {
    pixel (_x, _y, o, out) {
      const r = p[o]
      const g = p[o + 1]
      const b = p[o + 2]
      out[0] = m[0] * r + m[1] * g + m[2] * b
      out[1] = m[3] * r + m[4] * g + m[5] * b
      out[2] = m[6] * r + m[7] * g + m[8] * b
    },
    declared: { operation: 'recolour', hue_degrees: degrees }
  }
}

function warp (source: RgbImage, random: () => number): Edit {
  const size = Math.min(source.width, source.height)
  const amplitude = Math.round(size * (0.02 + random() * 0.03) * 10) / 10
  const wavelength = Math.round(size * (0.15 + random() * 0.2) * 10) / 10
  const phase = random() * Math.PI * 2
  const k = Math.PI * 2 / wavelength
  return {
    pixel (x, y, _o, out) {
      sampleInto(source, x + amplitude * Math.sin(k * y + phase), y + amplitude * Math.sin(k * x + phase), out, 0)
    },
    declared: { operation: 'warp', amplitude_px: amplitude, wavelength_px: wavelength }
  }
}
