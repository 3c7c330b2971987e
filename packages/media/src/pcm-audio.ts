/** Decoded audio: one Float32Array per channel, samples in [-1, 1]. */
export interface PcmAudio {
  sampleRate: number
  channels: Float32Array[]
}

export function audioDurationMs (audio: PcmAudio): number {
  return Math.round((audio.channels[0]?.length ?? 0) * 1000 / audio.sampleRate)
}

/** The channels averaged into one. */
export function mixDown (audio: PcmAudio): Float32Array {
  const { channels } = audio
  if (channels.length === 1) return channels[0]
  const out = new Float32Array(channels[0].length)
  for (const channel of channels) for (let i = 0; i < out.length; i++) out[i] += channel[i] / channels.length
  return out
}

/**
 * Loudness of each video frame's stretch of audio, 0 (at or below -50 dBFS RMS) to 1 (-10 dBFS and
 * up), linear in decibels: an absolute scale, so silence stays 0 and a louder take moves more.
 */
export function loudnessPerFrame (audio: PcmAudio, fps: number, frames: number): Float32Array {
  const mono = mixDown(audio)
  const out = new Float32Array(frames)
  for (let f = 0; f < frames; f++) {
    const from = Math.floor(f * audio.sampleRate / fps)
    const to = Math.min(mono.length, Math.floor((f + 1) * audio.sampleRate / fps))
    let sum = 0
    for (let i = from; i < to; i++) sum += mono[i] * mono[i]
    const rms = to > from ? Math.sqrt(sum / (to - from)) : 0
    const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity
    out[f] = Math.min(1, Math.max(0, (db + 50) / 40))
  }
  return out
}
