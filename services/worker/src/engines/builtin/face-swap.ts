import { blankImage, resizeImage } from '@comfy-jobs/media'
import { clampByte } from './colour.ts'
import { cropCentre } from './sampling.ts'
import { MAX_IMAGE_SIDE, type ImageWorkflow } from './workflow.ts'

/** The source's centre square (this fraction of its smaller side) stands in for its face. */
const SOURCE_FRACTION = 0.6
/** ...and goes onto a centre square of the target of this fraction of its smaller side. */
const TARGET_FRACTION = 0.5
/** Inside this fraction of the ellipse's radius the face is opaque; it fades out to the edge. */
const FEATHER_FROM = 0.8

/**
 * face_swap: puts the source's central region (where a portrait's face is) onto the centre of the
 * target, inside an ellipse with a feathered edge. No face detection: a stand-in for the real model.
 */
export const faceSwap: ImageWorkflow = {
  output: 'image',
  kind: 'face-swap',
  async plan ({ inputs, seed }) {
    const [source, target] = await Promise.all([inputs.image('source', MAX_IMAGE_SIDE), inputs.image('target', MAX_IMAGE_SIDE)])
    const side = Math.max(1, Math.round(Math.min(target.width, target.height) * TARGET_FRACTION))
    const left = Math.floor((target.width - side) / 2)
    const top = Math.floor((target.height - side) / 2)
    const crop = cropCentre(source, SOURCE_FRACTION)
    const face = await resizeImage(crop, side, side)
    const out = blankImage(target.width, target.height)
    const radius = side / 2
    return {
      image: out,
      renderRows (from, to) {
        const { width } = target
        out.pixels.set(target.pixels.subarray(from * width * 3, to * width * 3), from * width * 3)
        for (let y = Math.max(from, top); y < Math.min(to, top + side); y++) {
          for (let x = left; x < left + side; x++) {
            const dx = (x - left + 0.5 - radius) / radius
            const dy = (y - top + 0.5 - radius) / radius
            const d = Math.sqrt(dx * dx + dy * dy)
            if (d >= 1) continue
            const a = d <= FEATHER_FROM ? 1 : (1 - d) / (1 - FEATHER_FROM)
            const o = (y * width + x) * 3
            const f = ((y - top) * side + (x - left)) * 3
            for (let k = 0; k < 3; k++) out.pixels[o + k] = clampByte(target.pixels[o + k] + (face.pixels[f + k] - target.pixels[o + k]) * a)
          }
        }
      },
      declared: {
        seed,
        region: { x: left, y: top, width: side, height: side, shape: 'ellipse', opaque_within: FEATHER_FROM },
        source_region: { x: Math.floor((source.width - crop.width) / 2), y: Math.floor((source.height - crop.height) / 2), width: crop.width, height: crop.height }
      }
    }
  }
}
