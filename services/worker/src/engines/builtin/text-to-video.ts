import { blankImage } from '@comfy-jobs/media'
import { segmentAt } from './segments.ts'
import { TestPattern } from './test-pattern.ts'
import { SEGMENT_FRAMES, VIDEO_FPS, segmentPrompts, videoSize, type VideoWorkflow } from './workflow.ts'

/**
 * text_to_video: the test pattern of each prompt, animated (its rings move out, its stripes slide,
 * its gradient turns), one 2 s segment per prompt, each dissolving into the next.
 */
export const textToVideo: VideoWorkflow = {
  output: 'video',
  kind: 'pattern-video',
  framesOf: job => segmentPrompts(job).length * SEGMENT_FRAMES,
  async plan ({ job, seed }) {
    const prompts = segmentPrompts(job)
    const { width, height } = videoSize(job.params.width, job.params.height)
    const patterns = prompts.map(prompt => new TestPattern({ prompt, seed, width, height }))
    const mixed = blankImage(width, height)
    return {
      width,
      height,
      fps: VIDEO_FPS,
      frames: prompts.length * SEGMENT_FRAMES,
      renderFrame (index) {
        const { segment, t, fade } = segmentAt(index, prompts.length)
        const current = patterns[segment]
        current.renderRows(0, height, t)
        if (fade === 0) return current
        const next = patterns[segment + 1]
        next.renderRows(0, height, 0)
        for (let i = 0; i < mixed.pixels.length; i++) mixed.pixels[i] = Math.round(current.pixels[i] + (next.pixels[i] - current.pixels[i]) * fade)
        return mixed
      },
      declared: { seed, segments: prompts.map((prompt, i) => ({ prompt, first_frame: i * SEGMENT_FRAMES, frames: SEGMENT_FRAMES })) }
    }
  }
}
