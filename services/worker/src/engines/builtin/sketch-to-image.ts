import { blankImage } from '@comfy-jobs/media'
import { clampByte, hsl, seededRandom } from './colour.ts'
import { MAX_IMAGE_SIDE, type ImageWorkflow } from './workflow.ts'

/**
 * sketch_to_image: colours a line drawing. Ink (dark) becomes a rainbow-like run of saturated hues
 * across the picture, paper (light) a pale tint; prompt and seed choose the hues and the run's angle.
 * (Hues are interpolated, not RGB values, which would turn grey between opposite colours.)
 */
export const sketchToImage: ImageWorkflow = {
  output: 'image',
  kind: 'sketch-colouring',
  async plan ({ job, inputs, seed }) {
    const sketch = await inputs.image('input', MAX_IMAGE_SIDE)
    const random = seededRandom('sketch_to_image', job.prompt, seed)
    const hue = random() * 360
    const span = 60 + random() * 120
    const inks = Array.from({ length: 65 }, (_, i) => hsl(hue + span * i / 64, 0.85, 0.42))
    const paper = hsl(hue + 180, 0.4, 0.93)
    const angle = random() * Math.PI * 2
    const ux = Math.cos(angle)
    const uy = Math.sin(angle)
    const { width, height } = sketch
    const diag = Math.hypot(width, height)
    const out = blankImage(width, height)
    return {
      image: out,
      renderRows (from, to) {
        const p = sketch.pixels
        for (let y = from; y < to; y++) {
          for (let x = 0; x < width; x++) {
            const o = (y * width + x) * 3
            const ink = 1 - (p[o] * 0.2126 + p[o + 1] * 0.7152 + p[o + 2] * 0.0722) / 255
            const t = Math.min(1, Math.max(0, ((x - width / 2) * ux + (y - height / 2) * uy) / diag + 0.5))
            const inkColour = inks[Math.round(t * 64)]
            for (let k = 0; k < 3; k++) out.pixels[o + k] = clampByte(paper[k] + (inkColour[k] - paper[k]) * ink)
          }
        }
      },
      declared: { seed, ink: [inks[0], inks[64]], ink_hues: [Math.round(hue) % 360, Math.round(hue + span) % 360], paper }
    }
  }
}
