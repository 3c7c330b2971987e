import { blankImage, resizeImage } from '@comfy-jobs/media'
import { promptColour } from './colour.ts'
import { tint, toBytes, zoomInto } from './sampling.ts'
import { SEGMENT_FRAMES, VIDEO_FPS, videoSize, type VideoWorkflow } from './workflow.ts'

const ZOOM = 0.1
const TINT_PEAK = 0.15

/**
 * first_last_frame_video: morphs the first frame into the last. The first zooms in as it fades
 * out, the last zooms from 1.1 to rest as it fades in (smoothstep easing), and the prompt's colour
 * tints the middle; frame 0 is the first image and the final frame the last image, untouched.
 */
export const firstLastFrameVideo: VideoWorkflow = {
  output: 'video',
  kind: 'morph-video',
  framesOf: () => SEGMENT_FRAMES,
  async plan ({ job, inputs, seed }) {
    const [firstDecoded, lastDecoded] = await Promise.all([inputs.image('first_frame', 1024), inputs.image('last_frame', 1024)])
    const { width, height } = videoSize(firstDecoded.width, firstDecoded.height)
    const [first, last] = await Promise.all([resizeImage(firstDecoded, width, height, 'cover'), resizeImage(lastDecoded, width, height, 'cover')])
    const colour = promptColour(job.prompt)
    const a = new Float32Array(width * height * 3)
    const b = new Float32Array(width * height * 3)
    const frame = blankImage(width, height)
    const frames = SEGMENT_FRAMES
    return {
      width,
      height,
      fps: VIDEO_FPS,
      frames,
      renderFrame (index) {
        const t = frames > 1 ? index / (frames - 1) : 1
        const s = t * t * (3 - 2 * t)
        zoomInto(first, 1 + ZOOM * s, 0.5, 0.5, a)
        zoomInto(last, 1 + ZOOM * (1 - s), 0.5, 0.5, b)
        for (let i = 0; i < a.length; i++) a[i] += (b[i] - a[i]) * s
        tint(a, colour, index === 0 || index === frames - 1 ? 0 : TINT_PEAK * Math.sin(Math.PI * t))
        toBytes(a, frame.pixels)
        return frame
      },
      declared: { seed, easing: 'smoothstep', zoom: ZOOM, tint: colour, tint_peak: TINT_PEAK }
    }
  }
}
