import { isHeaderProblem, readImageHeader } from '@comfy-jobs/media'
import type { AudioUploadType, UploadType } from '@comfy-jobs/contracts'

/** Bytes enough to tell every accepted type apart. */
export const SNIFF_BYTES = 12

function audioType (head: Buffer): AudioUploadType | null {
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE') return 'audio/wav'
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'fLaC') return 'audio/flac'
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'OggS') return 'audio/ogg'
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'ID3') return 'audio/mpeg'
  // an MPEG audio frame: 11 sync bits, then a layer that is not "reserved"
  if (head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0) return 'audio/mpeg'
  return null
}

/**
 * The upload type from a file's first bytes (never from its name or declared type); null when it is
 * none of the accepted images (PNG, JPEG, WebP) or sounds (WAV, MP3, FLAC, Ogg).
 */
export function sniffUploadType (head: Buffer): UploadType | null {
  const image = readImageHeader(head)
  if (!isHeaderProblem(image) || image.problem !== 'not-an-image') {
    const mime = isHeaderProblem(image) ? imageTypeOf(head) : image.mime
    return mime === 'image/gif' ? null : mime
  }
  return audioType(head)
}

/** The image type by signature alone (the header may be cut short in the first bytes). */
function imageTypeOf (head: Buffer): 'image/png' | 'image/jpeg' | 'image/webp' | null {
  if (head[0] === 0x89) return 'image/png'
  if (head[0] === 0xff) return 'image/jpeg'
  if (head.toString('latin1', 0, 4) === 'RIFF') return 'image/webp'
  return null
}
