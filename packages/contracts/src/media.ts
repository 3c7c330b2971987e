/** Media that jobs take (inputs) and make (outputs): kinds, content types and file extensions. */

/** What an input is used as: an image, an image used as a mask, or a sound. */
export type MediaKind = 'image' | 'mask' | 'audio'
export type OutputKind = 'image' | 'video' | 'audio'
export const OUTPUT_KINDS: readonly OutputKind[] = ['image', 'video', 'audio']

/**
 * An input as the job row and the queue message carry it: a reference to a stored upload, never its
 * bytes. Workers fetch the bytes from a gateway by `name`.
 */
export interface InputRef {
  /** the stored upload's name: `<sha256 of the bytes>.<ext>` */
  name: string
  kind: MediaKind
  mime: string
  bytes: number
  /** images */
  width?: number
  height?: number
  /** audio, when known */
  duration_ms?: number
}

/** A job's inputs by declared name; an `images` input is a list. */
export type JobInputs = Record<string, InputRef | InputRef[]>

/** Uploads the gateway stores, by content type; the extension is part of the stored name. */
export const IMAGE_UPLOAD_TYPES = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' } as const
export const AUDIO_UPLOAD_TYPES = { 'audio/wav': 'wav', 'audio/mpeg': 'mp3', 'audio/flac': 'flac', 'audio/ogg': 'ogg' } as const
export type ImageUploadType = keyof typeof IMAGE_UPLOAD_TYPES
export type AudioUploadType = keyof typeof AUDIO_UPLOAD_TYPES
export type UploadType = ImageUploadType | AudioUploadType
export const UPLOAD_EXTENSIONS: Record<UploadType, string> = { ...IMAGE_UPLOAD_TYPES, ...AUDIO_UPLOAD_TYPES }

/** A stored upload's name: the sha256 of its bytes and the extension of its type. */
export const UPLOAD_NAME_PATTERN = `^[0-9a-f]{64}\\.(${[...new Set(Object.values(UPLOAD_EXTENSIONS))].join('|')})$`

/** The content type of a stored upload, from its name; undefined for a name the store never gives out. */
export function uploadTypeOf (name: string): UploadType | undefined {
  if (!new RegExp(UPLOAD_NAME_PATTERN).test(name)) return undefined
  const ext = name.slice(name.lastIndexOf('.') + 1)
  return (Object.keys(UPLOAD_EXTENSIONS) as UploadType[]).find(type => UPLOAD_EXTENSIONS[type] === ext)
}

export function isAudioType (type: string): type is AudioUploadType {
  return type in AUDIO_UPLOAD_TYPES
}

/** Output content types and the extension their files get. */
export const OUTPUT_EXTENSIONS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'video/x-matroska': 'mkv',
  'video/quicktime': 'mov',
  'video/mp2t': 'ts',
  'audio/webm': 'weba',
  'audio/x-matroska': 'mka',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/flac': 'flac',
  'audio/mpeg': 'mp3',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus'
}

/** Extension → content type, for serving output files. */
export const OUTPUT_CONTENT_TYPES: Record<string, string> = Object.fromEntries(Object.entries(OUTPUT_EXTENSIONS).map(([mime, ext]) => [ext, mime]))

/** The extension of an output of this content type; `bin` for a type the table does not know. */
export function outputExtension (mime: string): string {
  return OUTPUT_EXTENSIONS[mime.split(';')[0].trim().toLowerCase()] ?? 'bin'
}

/** The kind an output of this content type is, when the engine did not say (animated images are video by declaration only). */
export function outputKindOf (mime: string): OutputKind {
  const top = mime.split('/')[0]
  return top === 'video' ? 'video' : top === 'audio' ? 'audio' : 'image'
}
