import { MediaError } from './media-error.ts'
import type { PcmAudio } from './pcm-audio.ts'

const FORMAT_PCM = 1
const FORMAT_FLOAT = 3
const FORMAT_EXTENSIBLE = 0xfffe

export function isWav (bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WAVE'
}

/** Reads integer PCM (8, 16, 24, 32 bit) and float (32, 64 bit) WAV, plain or WAVE_FORMAT_EXTENSIBLE. */
export function decodeWav (bytes: Uint8Array): PcmAudio {
  if (!isWav(bytes)) throw new MediaError('not a WAV file')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let fmt: { format: number, channels: number, sampleRate: number, bits: number } | null = null
  let offset = 12
  while (offset + 8 <= bytes.length) {
    const id = ascii(bytes, offset, offset + 4)
    const declared = view.getUint32(offset + 4, true)
    const start = offset + 8
    if (id === 'fmt ') {
      if (declared < 16) throw new MediaError('WAV fmt chunk is too short')
      let format = view.getUint16(start, true)
      if (format === FORMAT_EXTENSIBLE && declared >= 26) format = view.getUint16(start + 24, true)
      fmt = { format, channels: view.getUint16(start + 2, true), sampleRate: view.getUint32(start + 4, true), bits: view.getUint16(start + 14, true) }
    } else if (id === 'data') {
      if (fmt === null) throw new MediaError('WAV data chunk comes before its fmt chunk')
      // A streamed WAV may declare 0 or 0xFFFFFFFF: the data then runs to the end of the file.
      const size = declared === 0 || start + declared > bytes.length ? bytes.length - start : declared
      return samples(view, start, size, fmt)
    }
    offset = start + declared + (declared & 1)
  }
  throw new MediaError('WAV file has no data chunk')
}

function samples (view: DataView, start: number, size: number, fmt: { format: number, channels: number, sampleRate: number, bits: number }): PcmAudio {
  const { format, channels, sampleRate, bits } = fmt
  const read = reader(format, bits)
  if (read === null) throw new MediaError(`WAV sample format ${format} with ${bits} bits is not supported (PCM 8/16/24/32 or float 32/64)`)
  if (channels < 1 || sampleRate < 1) throw new MediaError(`WAV declares ${channels} channels at ${sampleRate} Hz`)
  const width = bits / 8
  const frames = Math.floor(size / (width * channels))
  const out = Array.from({ length: channels }, () => new Float32Array(frames))
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) out[c][i] = read(view, start + (i * channels + c) * width)
  }
  return { sampleRate, channels: out }
}

function reader (format: number, bits: number): ((view: DataView, at: number) => number) | null {
  if (format === FORMAT_PCM) {
    switch (bits) {
      case 8: return (v, at) => (v.getUint8(at) - 128) / 128
      case 16: return (v, at) => v.getInt16(at, true) / 32768
      case 24: return (v, at) => ((v.getInt8(at + 2) << 16) | (v.getUint8(at + 1) << 8) | v.getUint8(at)) / 8388608
      case 32: return (v, at) => v.getInt32(at, true) / 2147483648
    }
  }
  if (format === FORMAT_FLOAT) {
    if (bits === 32) return (v, at) => v.getFloat32(at, true)
    if (bits === 64) return (v, at) => v.getFloat64(at, true)
  }
  return null
}

function ascii (bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to))
}
