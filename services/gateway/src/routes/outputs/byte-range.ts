/** One byte range of a file, inclusive, as a Range header asks for it. */
export interface ByteRange {
  start: number
  end: number
}

/**
 * The Range header against a file of `size` bytes: the range to send, 'unsatisfiable' (416), or null
 * to send the whole file (no header, a form we do not serve such as several ranges, or bad syntax:
 * RFC 9110 lets a server ignore a Range it does not take).
 */
export function parseRange (header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (header === undefined) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return null
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? Infinity : Number(m[2])
  if (end < start) return null
  if (start >= size) return 'unsatisfiable'
  return { start, end: Math.min(end, size - 1) }
}

/** Whether an If-None-Match list names this entity tag (weak comparison, as RFC 9110 asks for it). */
export function etagMatches (header: string, etag: string): boolean {
  if (header.trim() === '*') return true
  const bare = (tag: string) => tag.trim().replace(/^W\//, '')
  return header.split(',').some(tag => bare(tag) === bare(etag))
}
