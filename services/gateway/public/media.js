import { relative } from './api.js'

const VIDEO = /\.(mp4|webm|mov|mkv)$/i
const AUDIO = /\.(flac|mp3|wav|opus|ogg|m4a)$/i

/** An output's kind from its file name, for lists (history) that give only the path. */
export function kindOf (path) {
  if (VIDEO.test(path)) return 'video'
  if (AUDIO.test(path)) return 'audio'
  return 'image'
}

const NOUNS = { image: 'image', video: 'video', audio: 'sound' }

/** An <img>, or a <video> / <audio> player with controls, for one output ({url, kind}; `src`: the URL to open, signed or not). */
export function player ({ url, kind, src = relative(url) }, prompt) {
  const label = prompt ? `Generated ${NOUNS[kind]}: ${prompt}` : `Generated ${NOUNS[kind]}`
  if (kind === 'image') {
    const img = document.createElement('img')
    img.src = src
    img.alt = label
    return img
  }
  const media = document.createElement(kind === 'video' ? 'video' : 'audio')
  media.controls = true
  media.preload = 'metadata'
  media.src = src
  media.setAttribute('aria-label', label)
  if (kind === 'video') media.playsInline = true
  return media
}

/** A silent, still thumbnail for a card (the card itself is a button, so no controls inside); `src`: the URL to open. */
export function thumbnail (path, src = relative(path)) {
  const kind = kindOf(path)
  if (kind === 'audio') return placeholder('♪')
  const element = document.createElement(kind === 'video' ? 'video' : 'img')
  element.src = src
  if (kind === 'video') {
    element.muted = true
    element.preload = 'metadata'
    element.setAttribute('aria-hidden', 'true')
  } else {
    element.alt = ''
    element.loading = 'lazy'
  }
  return element
}

export function placeholder (text) {
  const span = document.createElement('span')
  span.className = 'placeholder'
  span.textContent = text
  return span
}

/** A link to `href` (the URL to open, signed or not) that saves the file under its own name (from `path`). */
export function downloadLink (href, path, label = 'Download') {
  const a = document.createElement('a')
  a.className = 'button secondary'
  a.href = href
  a.download = path.split('/').pop()
  a.textContent = label
  return a
}

/** "1216 × 832, 2.1 s, 33 frames, 512 KiB": what an output is, from its recorded facts. */
export function describeOutput (output) {
  const parts = []
  if (output.width && output.height) parts.push(`${output.width} × ${output.height}`)
  if (output.duration_ms) parts.push(`${(output.duration_ms / 1000).toFixed(1)} s`)
  if (output.frames) parts.push(`${output.frames} frames`)
  if (output.bytes) parts.push(`${Math.max(1, Math.round(output.bytes / 1024))} KiB`)
  return parts.join(', ')
}
