import type { UploadImageType } from '@comfy-jobs/contracts'

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

export const IMAGE_EXTENSIONS: Record<UploadImageType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' }

/** The image type from a file's first bytes (never from its name or declared type); null if none. */
export function sniffImageType (head: Buffer): UploadImageType | null {
  if (head.length >= 8 && head.subarray(0, 8).equals(PNG)) return 'image/png'
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg'
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'image/webp'
  return null
}
