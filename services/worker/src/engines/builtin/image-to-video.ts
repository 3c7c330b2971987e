import { blankImage, resizeImage } from '@comfy-jobs/media'
import type { QueuedJob } from '@comfy-jobs/contracts'
import { promptColour, seededRandom } from './colour.ts'
import { tint, toBytes, zoomInto } from './sampling.ts'
import { segmentAt } from './segments.ts'
import { SEGMENT_FRAMES, VIDEO_FPS, videoSize, type VideoWorkflow } from './workflow.ts'

/** How much of the segment prompt's colour is laid over its frames. */
const TINT = 0.15
const MAX_SHOTS = 5

/**
 * image_to_video: a slow zoom into each shot (a "Ken Burns" move whose depth and focus the seed
 * chooses), tinted with its prompt's colour. One segment per prompt when the job has `prompts`
 * (cycling through the shots), else one per shot with the job's prompt; segments dissolve.
 */
export const imageToVideo: VideoWorkflow = {
  output: 'video',
  kind: 'zoom-video',
  framesOf: job => segmentCount(job) * SEGMENT_FRAMES,
  async plan ({ job, inputs, seed }) {
    const decoded = await inputs.images('shots', 1, MAX_SHOTS, 1024)
    const { width, height } = videoSize(decoded[0].width, decoded[0].height)
    const shots = await Promise.all(decoded.map(shot => resizeImage(shot, width, height, 'cover')))
    const segments = (job.prompts !== undefined && job.prompts.length > 0
      ? job.prompts.map((prompt, i) => ({ prompt, shot: i % shots.length }))
      : shots.map((_, shot) => ({ prompt: job.prompt, shot }))
    ).map((segment, i) => {
      const random = seededRandom('image_to_video', seed, i, segment.prompt)
      return { ...segment, zoomTo: 1.1 + random() * 0.15, focus: [0.35 + random() * 0.3, 0.35 + random() * 0.3], tint: promptColour(segment.prompt) }
    })
    const current = new Float32Array(width * height * 3)
    const next = new Float32Array(width * height * 3)
    const frame = blankImage(width, height)
    const render = (index: number, t: number, into: Float32Array): void => {
      const s = segments[index]
      zoomInto(shots[s.shot], 1 + (s.zoomTo - 1) * t, s.focus[0], s.focus[1], into)
      tint(into, s.tint, TINT)
    }
    return {
      width,
      height,
      fps: VIDEO_FPS,
      frames: segments.length * SEGMENT_FRAMES,
      renderFrame (index) {
        const { segment, t, fade } = segmentAt(index, segments.length)
        render(segment, t, current)
        if (fade > 0) {
          render(segment + 1, 0, next)
          for (let i = 0; i < current.length; i++) current[i] += (next[i] - current[i]) * fade
        }
        toBytes(current, frame.pixels)
        return frame
      },
      declared: {
        seed,
        tint_amount: TINT,
        segments: segments.map((s, i) => ({
          prompt: s.prompt,
          shot: s.shot,
          first_frame: i * SEGMENT_FRAMES,
          frames: SEGMENT_FRAMES,
          zoom_to: Math.round(s.zoomTo * 1000) / 1000,
          focus: s.focus.map(f => Math.round(f * 1000) / 1000),
          tint: s.tint
        }))
      }
    }
  }
}

/** From the queue message: one segment per prompt, else per shot; 0 when the shots are not listed. */
function segmentCount (job: QueuedJob): number {
  if (job.prompts !== undefined && job.prompts.length > 0) return job.prompts.length
  const shots = job.inputs?.shots
  return shots === undefined ? 0 : Array.isArray(shots) ? shots.length : 1
}
