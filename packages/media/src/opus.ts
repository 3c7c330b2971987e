import type OpusScript from 'opusscript'
import { loadOpusScript } from './lazy-modules.ts'
import type { PcmAudio } from './pcm-audio.ts'
import { mixDown } from './pcm-audio.ts'

export const OPUS_RATE = 48_000
const FRAME = 960 // 20 ms at 48 kHz
/** libopus's look-ahead at 48 kHz for the AUDIO application: decoders drop this many samples first. */
const PRE_SKIP = 312
const OPUS_SET_COMPLEXITY_REQUEST = 4010
/** libopus's effort, 0..10: 5 costs about 30% less than the default 10 here, at no audible loss for a voice. */
const COMPLEXITY = 5

export interface OpusPacket {
  data: Uint8Array
  /** seconds */
  timestamp: number
  duration: number
}

/**
 * Encodes PCM as 20 ms Opus packets (libopus 1.4 compiled to WebAssembly, in the opusscript package),
 * a stretch at a time so the work can be spread over the video's frames. Mono stays mono, stereo
 * stays stereo, more channels are mixed to mono; any sample rate is resampled (linearly) to 48 kHz.
 */
export class OpusEncoder {
  readonly channelCount: number
  /** The OpusHead identification header, the codec's private data in WebM. */
  readonly head: Uint8Array
  readonly #encoder: OpusScript
  readonly #pcm: Float32Array[]
  /** samples to encode: the audio plus the look-ahead, so its end is not cut off */
  readonly #end: number
  #next = 0

  static async create (audio: PcmAudio): Promise<OpusEncoder> {
    return new OpusEncoder(audio, await loadOpusScript())
  }

  private constructor (audio: PcmAudio, Opus: typeof OpusScript) {
    const channels = audio.channels.length <= 2 ? audio.channels : [mixDown(audio)]
    this.channelCount = channels.length
    this.#pcm = channels.map(channel => resample(channel, audio.sampleRate, OPUS_RATE))
    this.#end = (this.#pcm[0]?.length ?? 0) + PRE_SKIP
    this.head = opusHead(this.channelCount, audio.sampleRate)
    this.#encoder = new Opus(OPUS_RATE, this.channelCount, Opus.Application.AUDIO)
    this.#encoder.encoderCTL(OPUS_SET_COMPLEXITY_REQUEST, COMPLEXITY)
  }

  get done (): boolean {
    return this.#next >= this.#end
  }

  /** Encodes every packet that starts before `seconds` (all that remain when omitted). */
  encodeUntil (seconds = Infinity): OpusPacket[] {
    const packets: OpusPacket[] = []
    const stop = Math.min(this.#end, Math.ceil(seconds * OPUS_RATE))
    const interleaved = new Int16Array(FRAME * this.channelCount)
    while (this.#next < stop) {
      interleaved.fill(0)
      for (let c = 0; c < this.channelCount; c++) {
        const channel = this.#pcm[c]
        const to = Math.min(FRAME, channel.length - this.#next)
        for (let i = 0; i < to; i++) {
          const s = channel[this.#next + i]
          interleaved[i * this.channelCount + c] = s >= 1 ? 32767 : s <= -1 ? -32768 : Math.round(s * 32767)
        }
      }
      // opusscript takes the little-endian bytes of the interleaved 16-bit samples
      const data = this.#encoder.encode(Buffer.from(interleaved.buffer), FRAME)
      packets.push({ data: new Uint8Array(data), timestamp: this.#next / OPUS_RATE, duration: FRAME / OPUS_RATE })
      this.#next += FRAME
    }
    return packets
  }

  close (): void {
    this.#encoder.delete()
  }
}

/** RFC 7845 §5.1: magic, version 1, channels, pre-skip, input rate, gain 0, mapping family 0. */
function opusHead (channels: number, inputRate: number): Uint8Array {
  const head = Buffer.alloc(19)
  head.write('OpusHead', 0, 'latin1')
  head[8] = 1
  head[9] = channels
  head.writeUInt16LE(PRE_SKIP, 10)
  head.writeUInt32LE(inputRate, 12)
  return new Uint8Array(head)
}

function resample (samples: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return samples
  const out = new Float32Array(Math.round(samples.length * to / from))
  const step = from / to
  for (let i = 0; i < out.length; i++) {
    const x = i * step
    const j = Math.floor(x)
    const a = samples[j] ?? 0
    const b = samples[j + 1] ?? a
    out[i] = a + (b - a) * (x - j)
  }
  return out
}
