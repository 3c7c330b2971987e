import { loadMediabunny, loadSharp } from './lazy-modules.ts'
import { MediaError } from './media-error.ts'

/** What an output is to its user: a picture, something that moves, or something to hear. */
export type MediaKind = 'image' | 'video' | 'audio'

export interface MediaProbe {
  kind: MediaKind
  /** the content type, without codec parameters */
  mime: string
  /** 0 for audio */
  width: number
  height: number
  /** video and audio, including animated images */
  duration_ms?: number
  /** video frames (video packets), including the pages of an animated image */
  frames?: number
}

const IMAGE_TYPES = [
  { mime: 'image/png', magic: (b: Uint8Array) => startsWith(b, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  { mime: 'image/jpeg', magic: (b: Uint8Array) => startsWith(b, 0, [0xff, 0xd8, 0xff]) },
  { mime: 'image/gif', magic: (b: Uint8Array) => ascii(b, 0, 4) === 'GIF8' },
  { mime: 'image/webp', magic: (b: Uint8Array) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' }
]

/**
 * Identifies any output a job can make from its bytes alone: PNG and APNG, JPEG, WebP (animated too), GIF,
 * MP4/MOV, WebM/Matroska, MPEG-TS, WAV, MP3, FLAC, Ogg (Opus, Vorbis) and ADTS AAC. Throws a
 * MediaError for anything else.
 */
export async function probeMedia (bytes: Uint8Array): Promise<MediaProbe> {
  const image = IMAGE_TYPES.find(type => type.magic(bytes))
  if (image !== undefined) return await probeImage(bytes, image.mime)
  return await probeContainer(bytes)
}

async function probeImage (bytes: Uint8Array, mime: string): Promise<MediaProbe> {
  const sharp = await loadSharp()
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>
  try {
    meta = await sharp(bytes, { animated: true }).metadata()
  } catch (err) {
    throw new MediaError(`corrupt ${mime}: ${(err as Error).message}`)
  }
  const width = meta.width ?? 0
  const height = meta.pageHeight ?? meta.height ?? 0
  const pages = meta.pages ?? 1
  if (pages <= 1) {
    const animation = mime === 'image/png' ? apngTiming(bytes) : null
    if (animation !== null) return { kind: 'video', mime, width, height, ...animation }
    return { kind: 'image', mime, width, height }
  }
  const delays = meta.delay ?? []
  // Browsers show a GIF frame whose delay is 10 ms or less for 100 ms; the duration is what they play.
  const shown = (ms: number): number => mime === 'image/gif' && ms <= 10 ? 100 : ms
  const duration = Array.from({ length: pages }, (_, i) => shown(delays[i] ?? 0)).reduce((sum, d) => sum + d, 0)
  return { kind: 'video', mime, width, height, frames: pages, duration_ms: duration }
}

/**
 * An APNG's frame count and play time from its acTL and fcTL chunks, or null for a still PNG
 * (sharp reads only the default image). A delay's denominator of 0 means hundredths of a second.
 */
function apngTiming (bytes: Uint8Array): { frames: number, duration_ms: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let frames = 0
  let seconds = 0
  let animated = false
  for (let offset = 8; offset + 12 <= bytes.length;) {
    const length = view.getUint32(offset)
    const type = ascii(bytes, offset + 4, offset + 8)
    const data = offset + 8
    if (type === 'acTL' && length >= 8) {
      animated = true
      frames = view.getUint32(data)
    } else if (type === 'fcTL' && length >= 26) {
      const num = view.getUint16(data + 20)
      const den = view.getUint16(data + 22)
      seconds += num / (den === 0 ? 100 : den)
    } else if (type === 'IDAT' && !animated) {
      return null
    } else if (type === 'IEND') {
      break
    }
    offset = data + length + 4
  }
  return animated && frames > 1 ? { frames, duration_ms: Math.round(seconds * 1000) } : null
}

async function probeContainer (bytes: Uint8Array): Promise<MediaProbe> {
  const { ALL_FORMATS, BufferSource, Input } = await loadMediabunny()
  const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS })
  try {
    let mime: string
    try {
      mime = (await input.getMimeType()).split(';')[0].trim()
    } catch {
      throw new MediaError('not an image, video or audio format this service knows')
    }
    const duration = Math.round(await input.computeDuration() * 1000)
    const video = await input.getPrimaryVideoTrack()
    if (video !== null) {
      const [width, height, stats] = await Promise.all([video.getDisplayWidth(), video.getDisplayHeight(), video.computePacketStats()])
      return { kind: 'video', mime, width, height, duration_ms: duration, frames: stats.packetCount }
    }
    if (await input.getPrimaryAudioTrack() !== null) {
      return { kind: 'audio', mime, width: 0, height: 0, duration_ms: duration }
    }
    throw new MediaError(`${mime} file without a video or audio track`)
  } catch (err) {
    if (err instanceof MediaError) throw err
    throw new MediaError(`corrupt media: ${(err as Error).message}`)
  } finally {
    input.dispose()
  }
}

function startsWith (bytes: Uint8Array, at: number, prefix: number[]): boolean {
  return bytes.length >= at + prefix.length && prefix.every((b, i) => bytes[at + i] === b)
}

function ascii (bytes: Uint8Array, from: number, to: number): string {
  return bytes.length >= to ? String.fromCharCode(...bytes.subarray(from, to)) : ''
}
