import { MediaError } from './media-error.ts'
import { loadMpg123 } from './lazy-modules.ts'
import type { PcmAudio } from './pcm-audio.ts'
import { decodeWav, isWav } from './wav.ts'

/** Decodes WAV or MP3 (the audio formats the original system accepted) into PCM. */
export async function decodeAudio (bytes: Uint8Array): Promise<PcmAudio> {
  if (isWav(bytes)) return decodeWav(bytes)
  if (isMp3(bytes)) return await decodeMp3(bytes)
  throw new MediaError('audio must be WAV or MP3')
}

/** An ID3v2 tag, or an MPEG audio frame sync (11 set bits) with a layer. */
function isMp3 (bytes: Uint8Array): boolean {
  if (bytes.length >= 3 && bytes[0] === 0x49 && bytes[1] === 0x44 && bytes[2] === 0x33) return true
  return bytes.length >= 2 && bytes[0] === 0xff && (bytes[1] & 0xe0) === 0xe0 && (bytes[1] & 0x06) !== 0
}

async function decodeMp3 (bytes: Uint8Array): Promise<PcmAudio> {
  const { MPEGDecoder } = await loadMpg123()
  const decoder = new MPEGDecoder({ enableGapless: true })
  await decoder.ready
  try {
    const { channelData, samplesDecoded, sampleRate } = decoder.decode(bytes)
    if (samplesDecoded === 0 || channelData.length === 0) throw new MediaError('MP3 file holds no decodable audio')
    return { sampleRate, channels: channelData.map(channel => channel.slice(0, samplesDecoded)) }
  } finally {
    decoder.free()
  }
}
