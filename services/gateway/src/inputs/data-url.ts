/** A `data:` URL's bytes; only the base64 form is accepted (that is what browsers' FileReader makes). */
export type DataUrlResult = { ok: true, data: Buffer } | { ok: false, message: string }

const DATA_URL = /^data:([^,]*),/i
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

export function isDataUrl (value: string): boolean {
  return /^data:/i.test(value)
}

/**
 * Decodes a base64 data: URL strictly: a character outside the alphabet, or a length that is not a
 * whole number of groups, is refused rather than skipped (Buffer.from would silently drop it).
 * `maxBytes` is checked before decoding.
 */
export function decodeDataUrl (value: string, maxBytes: number): DataUrlResult {
  const head = DATA_URL.exec(value.slice(0, 256))
  if (head === null) return { ok: false, message: 'is not a data: URL (data:<type>;base64,<data>)' }
  if (!/;base64$/i.test(head[1])) return { ok: false, message: 'is a data: URL without ;base64; send the file base64-encoded' }
  const payload = value.slice(head[0].length)
  if (payload.length % 4 !== 0 || !BASE64.test(payload)) return { ok: false, message: 'is a data: URL whose data is not valid base64' }
  const bytes = payload.length / 4 * 3 - (payload.endsWith('==') ? 2 : payload.endsWith('=') ? 1 : 0)
  if (bytes > maxBytes) return { ok: false, message: `is larger than ${maxBytes} bytes` }
  return { ok: true, data: Buffer.from(payload, 'base64') }
}
