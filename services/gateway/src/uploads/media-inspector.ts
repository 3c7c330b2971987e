import { isHeaderProblem, readImageHeader } from '@comfy-jobs/media'
import { isAudioType, type UploadType } from '@comfy-jobs/contracts'
import { SNIFF_BYTES, sniffUploadType } from './media-type.ts'

/** The limits every input file is checked against, whether uploaded or sent inline. */
export interface MediaLimits {
  maxBytes: number
  maxPixels: number
  maxSide: number
}

/** What a file turned out to be. */
export interface InspectedMedia {
  type: UploadType
  kind: 'image' | 'audio'
  size: number
  width?: number
  height?: number
}

/** A file that breaks a rule; the caller turns it into its transport's error, naming the field. */
export class MediaRefusal extends Error {
  constructor (readonly reason: 'type' | 'too-large' | 'too-many-pixels' | 'empty' | 'invalid', message: string) {
    super(message)
    this.name = 'MediaRefusal'
  }
}

/** An image's size must come within this many bytes (a JPEG's metadata segments precede it). */
const MAX_HEADER_BYTES = 256 * 1024

/**
 * Checks a file as its bytes arrive: the type by its first bytes, the size as it grows, and an image's
 * pixel count from its header as soon as the header has arrived, so a file claiming 100000×100000
 * is refused without decoding anything (and, streamed, before the rest is read).
 */
export class MediaInspector {
  readonly #limits: MediaLimits
  #head = Buffer.alloc(0)
  #type: UploadType | null = null
  #size = 0
  #image: { width: number, height: number } | null = null

  constructor (limits: MediaLimits) {
    this.#limits = limits
  }

  /** Throws a MediaRefusal as soon as the bytes so far break a rule. */
  push (chunk: Buffer): void {
    this.#size += chunk.length
    if (this.#size > this.#limits.maxBytes) throw new MediaRefusal('too-large', `is larger than ${this.#limits.maxBytes} bytes`)
    const needHead = this.#type === null || (this.#image === null && !isAudioType(this.#type))
    if (needHead && this.#head.length < MAX_HEADER_BYTES) this.#head = Buffer.concat([this.#head, chunk.subarray(0, MAX_HEADER_BYTES - this.#head.length)])
    if (this.#type === null && this.#head.length >= SNIFF_BYTES) this.#sniff()
    if (this.#type !== null && !isAudioType(this.#type) && this.#image === null) this.#readSize(false)
  }

  /** Every byte has arrived: what the file is, or a MediaRefusal. */
  finish (): InspectedMedia {
    if (this.#size === 0) throw new MediaRefusal('empty', 'is empty')
    if (this.#type === null) this.#sniff()
    if (!isAudioType(this.#type!) && this.#image === null) this.#readSize(true)
    const type = this.#type!
    return isAudioType(type)
      ? { type, kind: 'audio', size: this.#size }
      : { type, kind: 'image', size: this.#size, width: this.#image!.width, height: this.#image!.height }
  }

  #sniff (): void {
    this.#type = sniffUploadType(this.#head)
    if (this.#type === null) throw new MediaRefusal('type', 'is not a PNG, JPEG or WebP image, nor a WAV, MP3, FLAC or Ogg sound')
  }

  #readSize (complete: boolean): void {
    const header = readImageHeader(this.#head)
    if (isHeaderProblem(header)) {
      if (header.problem !== 'truncated' || complete) throw new MediaRefusal('invalid', `is not a readable image: ${header.message}`)
      if (this.#head.length >= MAX_HEADER_BYTES) throw new MediaRefusal('invalid', `is not a readable image: no size in its first ${MAX_HEADER_BYTES} bytes`)
      return
    }
    const { width, height } = header
    const { maxPixels, maxSide } = this.#limits
    if (width > maxSide || height > maxSide || width * height > maxPixels) {
      throw new MediaRefusal('too-many-pixels', `is an image of ${width}×${height} pixels; at most ${maxPixels} pixels and ${maxSide} per side are accepted`)
    }
    this.#image = { width, height }
  }
}

/** Checks a file held in memory (a decoded data: URL). */
export function inspectBuffer (data: Buffer, limits: MediaLimits): InspectedMedia {
  const inspector = new MediaInspector(limits)
  inspector.push(data)
  return inspector.finish()
}
