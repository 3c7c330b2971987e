import { blankImage, resizeImage } from '@comfy-jobs/media'
import { clampByte, seededRandom } from './colour.ts'
import { MAX_IMAGE_SIDE, type ImageWorkflow } from './workflow.ts'

/**
 * multi_image_blend: a weighted mean of 2 to 5 images, each cropped and scaled to cover the first
 * one's size; the seed chooses the weights (each between 0.5 and 1.5 before they are normalised).
 */
export const imageBlend: ImageWorkflow = {
  output: 'image',
  kind: 'blend',
  async plan ({ inputs, seed }) {
    const decoded = await inputs.images('images', 2, 5, MAX_IMAGE_SIDE)
    const { width, height } = decoded[0]
    const images = await Promise.all(decoded.map(image => resizeImage(image, width, height, 'cover')))
    const random = seededRandom('multi_image_blend', seed, images.length)
    const raw = images.map(() => 0.5 + random())
    const sum = raw.reduce((a, b) => a + b, 0)
    const weights = raw.map(w => w / sum)
    const out = blankImage(width, height)
    return {
      image: out,
      renderRows (from, to) {
        for (let i = from * width * 3; i < to * width * 3; i++) {
          let v = 0
          for (let n = 0; n < images.length; n++) v += images[n].pixels[i] * weights[n]
          out.pixels[i] = clampByte(v)
        }
      },
      declared: { seed, weights: weights.map(w => Math.round(w * 1e6) / 1e6) }
    }
  }
}
