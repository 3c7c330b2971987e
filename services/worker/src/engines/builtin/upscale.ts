import { blankImage, resizeRows } from '@comfy-jobs/media'
import { MAX_IMAGE_SIDE, type ImageWorkflow } from './workflow.ts'

const SCALE = 2
/** Lanczos-3 reads three input rows either side of a point; each band reads that much beyond it. */
const MARGIN = 3

/**
 * upscale: resamples the input to twice its size with a Lanczos-3 kernel (libvips, through sharp),
 * band by band: each band is resized with a margin of input rows and only its middle kept, which
 * gives the same rows as one resize of the whole image.
 */
export const upscale: ImageWorkflow = {
  output: 'image',
  kind: 'upscale',
  async plan ({ inputs, seed }) {
    const source = await inputs.image('input', MAX_IMAGE_SIDE)
    const out = blankImage(source.width * SCALE, source.height * SCALE)
    return {
      image: out,
      async renderRows (from, to) {
        if (to <= from) return
        const top = Math.max(0, Math.floor(from / SCALE) - MARGIN)
        const bottom = Math.min(source.height, Math.ceil(to / SCALE) + MARGIN)
        const band = await resizeRows(source, top, bottom - top, out.width, (bottom - top) * SCALE)
        const stride = out.width * 3
        out.pixels.set(band.pixels.subarray((from - top * SCALE) * stride, (to - top * SCALE) * stride), from * stride)
      },
      declared: { seed, scale: SCALE, kernel: 'lanczos3', input: { width: source.width, height: source.height } }
    }
  }
}
