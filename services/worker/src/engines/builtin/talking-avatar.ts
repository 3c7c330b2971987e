import { blankImage, loudnessPerFrame, resizeImage } from '@comfy-jobs/media'
import { UnsupportedJobError } from '../unsupported-job-error.ts'
import { VIDEO_FPS, videoSize, type VideoWorkflow } from './workflow.ts'

/** Longer audio would make a job of minutes; the original's avatar clips were short. */
export const MAX_AVATAR_SECONDS = 60
const MOUTH_COLOUR = [72, 20, 30]
const SOLID_WITHIN = 0.85

/**
 * talking_avatar: the avatar with a mouth that opens as loud as the audio is at each frame (RMS,
 * -50 dBFS closed to -10 dBFS fully open), muxed with that audio, so the video lasts as long as
 * the audio. The mouth sits where a centred portrait's mouth is; there is no face detection.
 */
export const talkingAvatar: VideoWorkflow = {
  output: 'video',
  kind: 'avatar-video',
  framesOf: () => 0,
  async plan ({ inputs, seed }) {
    const [decoded, audio] = await Promise.all([inputs.image('avatar', 1024), inputs.audio('audio')])
    const seconds = (audio.channels[0]?.length ?? 0) / audio.sampleRate
    if (!(seconds > 0)) throw new UnsupportedJobError('input "audio" holds no samples')
    if (seconds > MAX_AVATAR_SECONDS) throw new UnsupportedJobError(`input "audio" lasts ${seconds.toFixed(1)} s; talking_avatar takes at most ${MAX_AVATAR_SECONDS} s`)
    const { width, height } = videoSize(decoded.width, decoded.height)
    const base = await resizeImage(decoded, width, height, 'cover')
    const frames = Math.max(1, Math.ceil(seconds * VIDEO_FPS - 1e-9))
    const loudness = loudnessPerFrame(audio, VIDEO_FPS, frames)
    const mouth = { cx: width / 2, cy: height * 0.72, rx: width * 0.12, max_ry: height * 0.07 }
    const frame = blankImage(width, height)
    return {
      width,
      height,
      fps: VIDEO_FPS,
      frames,
      audio,
      renderFrame (index) {
        frame.pixels.set(base.pixels)
        const ry = mouth.max_ry * loudness[index]
        if (ry < 0.5) return frame
        for (let y = Math.max(0, Math.floor(mouth.cy - ry)); y <= Math.min(height - 1, Math.ceil(mouth.cy + ry)); y++) {
          for (let x = Math.max(0, Math.floor(mouth.cx - mouth.rx)); x <= Math.min(width - 1, Math.ceil(mouth.cx + mouth.rx)); x++) {
            const dx = (x + 0.5 - mouth.cx) / mouth.rx
            const dy = (y + 0.5 - mouth.cy) / ry
            const d = Math.sqrt(dx * dx + dy * dy)
            if (d >= 1) continue
            const a = d <= SOLID_WITHIN ? 1 : (1 - d) / (1 - SOLID_WITHIN)
            const o = (y * width + x) * 3
            for (let k = 0; k < 3; k++) frame.pixels[o + k] = Math.round(frame.pixels[o + k] + (MOUTH_COLOUR[k] - frame.pixels[o + k]) * a)
          }
        }
        return frame
      },
      declared: {
        seed,
        audio_ms: Math.round(seconds * 1000),
        mouth: { cx: mouth.cx, cy: Math.round(mouth.cy * 10) / 10, rx: Math.round(mouth.rx * 10) / 10, max_ry: Math.round(mouth.max_ry * 10) / 10 },
        loudness: 'RMS of each frame\'s audio; -50 dBFS closed, -10 dBFS fully open'
      }
    }
  }
}
