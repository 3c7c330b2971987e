import type { BufferTarget, EncodedAudioPacketSource, EncodedVideoPacketSource, Output, WebMOutputFormat } from 'mediabunny'
import { loadMediabunny, type Mediabunny } from './lazy-modules.ts'
import { MediaError } from './media-error.ts'
import { OpusEncoder } from './opus.ts'
import type { PcmAudio } from './pcm-audio.ts'
import type { RgbImage } from './rgb-image.ts'
import { encodeVp8KeyFrame } from './vp8.ts'

export interface WebmSpec {
  width: number
  height: number
  fps: number
  /** muxed as Opus; the video then ends when the audio does */
  audio?: PcmAudio
  /** VP8 quality, 0..100 */
  quality?: number
}

/**
 * Writes a WebM (VP8 video, all key frames; Opus audio) frame by frame, in memory: plays in
 * Chromium, Firefox, VLC, mpv and ffmpeg (recent Safari too). Each frame is held until the next one comes,
 * so the last frame's duration can be fitted to the audio's end.
 */
export class WebmWriter {
  readonly #spec: WebmSpec
  readonly #mb: Mediabunny
  readonly #output: Output<WebMOutputFormat, BufferTarget>
  readonly #video: EncodedVideoPacketSource
  readonly #audio: { source: EncodedAudioPacketSource, encoder: OpusEncoder, seconds: number } | null
  #held: Uint8Array | null = null
  #frames = 0
  #audioStarted = false
  #closed = false

  private constructor (spec: WebmSpec, mb: Mediabunny, opus: OpusEncoder | null) {
    this.#spec = spec
    this.#mb = mb
    this.#output = new mb.Output({ format: new mb.WebMOutputFormat(), target: new mb.BufferTarget() })
    this.#video = new mb.EncodedVideoPacketSource('vp8')
    // A declared frame rate makes the muxer round every duration to whole frames, and the last
    // frame of a video with audio must end where the audio does.
    this.#output.addVideoTrack(this.#video, spec.audio === undefined ? { frameRate: spec.fps } : {})
    if (spec.audio !== undefined && opus !== null) {
      const source = new mb.EncodedAudioPacketSource('opus')
      this.#output.addAudioTrack(source)
      this.#audio = { source, encoder: opus, seconds: (spec.audio.channels[0]?.length ?? 0) / spec.audio.sampleRate }
    } else {
      this.#audio = null
    }
  }

  static async open (spec: WebmSpec): Promise<WebmWriter> {
    if (!(spec.width > 0 && spec.height > 0 && spec.fps > 0)) throw new MediaError(`bad video spec ${spec.width}x${spec.height} at ${spec.fps} fps`)
    const [mb, opus] = await Promise.all([loadMediabunny(), spec.audio !== undefined ? OpusEncoder.create(spec.audio) : null])
    const writer = new WebmWriter(spec, mb, opus)
    await writer.#output.start()
    return writer
  }

  get frames (): number {
    return this.#frames
  }

  async addFrame (image: RgbImage): Promise<void> {
    const { width, height, fps, quality } = this.#spec
    if (image.width !== width || image.height !== height) {
      throw new MediaError(`frame ${this.#frames} is ${image.width}x${image.height}, the video is ${width}x${height}`)
    }
    const frame = await encodeVp8KeyFrame(image, quality)
    if (this.#held !== null) await this.#addVideo(this.#held, 1 / fps)
    this.#held = frame
    this.#frames++
    await this.#addAudio(this.#frames / fps)
  }

  /** Writes the held frame and the rest of the audio; returns the file. */
  async finish (): Promise<Buffer> {
    const { fps } = this.#spec
    if (this.#held === null) throw new MediaError('a video needs at least one frame')
    const start = (this.#frames - 1) / fps
    const end = this.#audio !== null ? this.#audio.seconds : start + 1 / fps
    await this.#addVideo(this.#held, end > start ? end - start : 1 / fps)
    this.#held = null
    await this.#addAudio(Infinity)
    await this.#output.finalize()
    const buffer = this.#output.target.buffer
    if (buffer === null) throw new MediaError('the muxer produced no bytes')
    await this.close()
    return Buffer.from(buffer)
  }

  /** Frees the audio encoder; a writer closed before finish() abandons its file. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#audio?.encoder.close()
    if (this.#output.state !== 'finalized' && this.#output.state !== 'canceled') await this.#output.cancel()
  }

  /** Writes the held frame, whose index is always frames - 1 (addFrame counts the new one after). */
  async #addVideo (frame: Uint8Array, duration: number): Promise<void> {
    const { width, height, fps } = this.#spec
    const index = this.#frames - 1
    const timestamp = index / fps
    const meta = index === 0 ? { decoderConfig: { codec: 'vp8', codedWidth: width, codedHeight: height } } : undefined
    await this.#video.add(new this.#mb.EncodedPacket(frame, 'key', timestamp, duration), meta)
  }

  async #addAudio (untilSeconds: number): Promise<void> {
    if (this.#audio === null) return
    const { source, encoder } = this.#audio
    for (const packet of encoder.encodeUntil(untilSeconds)) {
      const meta = this.#audioStarted
        ? undefined
        : { decoderConfig: { codec: 'opus', numberOfChannels: encoder.channelCount, sampleRate: 48_000, description: encoder.head } }
      this.#audioStarted = true
      await source.add(new this.#mb.EncodedPacket(packet.data, 'key', packet.timestamp, packet.duration), meta)
    }
  }
}
