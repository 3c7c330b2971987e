import { loadSharp } from './lazy-modules.ts'
import { MediaError } from './media-error.ts'
import type { RgbImage } from './rgb-image.ts'

export interface DecodeImageOptions {
  /** Larger images are scaled down (aspect kept) so that neither side exceeds this. */
  maxSide?: number
}

/**
 * Decodes PNG, JPEG, WebP or GIF (its first frame) into sRGB pixels: EXIF orientation applied,
 * transparency flattened onto white, grey turned into RGB.
 */
export async function decodeImage (bytes: Uint8Array, options: DecodeImageOptions = {}): Promise<RgbImage> {
  const sharp = await loadSharp()
  let pipeline = sharp(bytes, { failOn: 'error' }).rotate().flatten({ background: '#ffffff' })
  if (options.maxSide !== undefined) {
    pipeline = pipeline.resize({ width: options.maxSide, height: options.maxSide, fit: 'inside', withoutEnlargement: true })
  }
  try {
    const { data, info } = await pipeline.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true })
    if (info.channels !== 3) throw new MediaError(`decoded image has ${info.channels} channels, expected 3`)
    return { width: info.width, height: info.height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) }
  } catch (err) {
    if (err instanceof MediaError) throw err
    throw new MediaError(`cannot decode image: ${(err as Error).message}`)
  }
}

export type ResizeFit = 'fill' | 'cover'

/** Resamples to exactly width×height: `fill` stretches, `cover` crops the overflow around the centre. */
export async function resizeImage (image: RgbImage, width: number, height: number, fit: ResizeFit = 'fill'): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image
  const sharp = await loadSharp()
  const { data } = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize({ width, height, fit, kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { width, height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) }
}

/** Rows [top, top + rows) of image, resampled to width×(rows·scale) with the same kernel as resizeImage. */
export async function resizeRows (image: RgbImage, top: number, rows: number, width: number, height: number): Promise<RgbImage> {
  const sharp = await loadSharp()
  const { data } = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left: 0, top, width: image.width, height: rows })
    .resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  return { width, height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) }
}
