/** 8-bit RGB pixels, rows top to bottom: the one raster format the encoders and renderers share. */
export interface RgbImage {
  width: number
  height: number
  /** width * height * 3 bytes */
  pixels: Uint8Array
}

export function blankImage (width: number, height: number): RgbImage {
  return { width, height, pixels: new Uint8Array(width * height * 3) }
}
