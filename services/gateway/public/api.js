// Every URL is relative to the page, so the page works when the gateway sits behind a path prefix.

/** A server path such as "/outputs/x.png" as a URL relative to the page. */
export function relative (path) {
  return path.replace(/^\/+/, '')
}

const KEY_ITEM = 'comfy-jobs.api-key'

/**
 * The API key the page sends, kept for this tab's session (sessionStorage; never in a URL), and the
 * place the page hears "a key is needed" (event `needed`, detail: {message, refused}) and "a key was
 * taken" (event `changed`). While the gateway needs no key there is none, and nothing here is used.
 */
export const apiKey = new (class ApiKey extends EventTarget {
  get value () { return sessionStorage.getItem(KEY_ITEM) }

  use (key) {
    sessionStorage.setItem(KEY_ITEM, key)
    signedCache.clear()
    this.dispatchEvent(new Event('changed'))
  }

  /** Drops the key (the page then starts afresh, so nothing follows). */
  forget () {
    sessionStorage.removeItem(KEY_ITEM)
    signedCache.clear()
  }

  needed (message, refused) {
    this.dispatchEvent(new CustomEvent('needed', { detail: { message, refused } }))
  }
})()

/** fetch with the API key (when there is one) as `Authorization: Bearer`. */
async function call (path, init = {}, key = apiKey.value) {
  const headers = new Headers(init.headers)
  if (key) headers.set('authorization', `Bearer ${key}`)
  return json(await fetch(path, { ...init, headers }), key)
}

async function json (response, key) {
  const body = await response.json().catch(() => ({}))
  if (!response.ok) {
    const error = new Error(body.error || body.message || `HTTP ${response.status}`)
    error.body = body
    error.status = response.status
    if (response.status === 401 && body.code === 'UNAUTHENTICATED') onRefused(key)
    throw error
  }
  return body
}

/** A 401: the gateway wants a key, or refused the one sent (wrong, revoked). Ask (again). */
function onRefused (key) {
  if (!key) return apiKey.needed('This gateway needs an API key.', false)
  if (key !== apiKey.value) return // a key being tried (checkKey), or one already replaced
  sessionStorage.removeItem(KEY_ITEM)
  signedCache.clear()
  apiKey.needed('The gateway refused the key (wrong, expired or revoked). Enter a key.', true)
}

/** Whether the gateway takes `key`: one read with it (a refusal throws, without asking again). */
export async function checkKey (key) {
  await call('api/history?limit=1', {}, key)
}

/** An API error in words: the details the gateway gave (each names its field), else its message. */
export function describeError (err) {
  const details = err.body?.details
  if (Array.isArray(details)) return details.map(d => d.message ?? String(d)).join('; ')
  if (typeof details === 'string') return details
  return err.message
}

export async function submitJob (params) {
  return call('api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params)
  })
}

export async function getWorkflows () {
  return call('api/workflows')
}

/** POST /api/upload: one file as multipart field `file`; answers {name, type, kind, width?, height?}. */
export async function uploadFile (file) {
  const form = new FormData()
  form.append('file', file, file.name)
  return call('api/upload', { method: 'POST', body: form })
}

export async function cancelJob (jobId) {
  return call(`api/cancel/${encodeURIComponent(jobId)}`, { method: 'POST' })
}

export async function getHistory ({ limit, before }) {
  const query = new URLSearchParams({ limit: String(limit) })
  if (before) query.set('before', before)
  return call(`api/history?${query}`)
}

export async function getJob (jobId) {
  return call(`api/jobs/${encodeURIComponent(jobId)}`)
}

export async function getStatus (jobId) {
  return call(`api/status/${encodeURIComponent(jobId)}`)
}

const signedCache = new Map() // job id → {events, outputs: Map(path → url), renewAt}
/** Signed URLs are asked for again this long before they expire (at most a quarter of their life). */
const SIGNED_MARGIN_MS = 30_000

/**
 * The job's signed URLs (GET /api/jobs/:id/signed-urls), for what the browser fetches without
 * headers; kept until near their expiry, and asked again when `path` is not among them yet (an
 * output that appeared since) or `fresh` (a stream whose URL was refused).
 */
async function signedUrls (jobId, { path, fresh = false } = {}) {
  const cached = signedCache.get(jobId)
  if (!fresh && cached && cached.renewAt > Date.now() && (!path || cached.outputs.has(path))) return cached
  const body = await call(`api/jobs/${encodeURIComponent(jobId)}/signed-urls`)
  const outputs = new Map(body.outputs.map(url => [url.split('?')[0], url]))
  const expires = Date.parse(body.expires_at)
  const entry = { events: body.events, outputs, renewAt: expires - Math.min(SIGNED_MARGIN_MS, (expires - Date.now()) / 4) }
  signedCache.set(jobId, entry)
  return entry
}

/**
 * A job's output (server path such as "/outputs/x.png") as a URL an <img>, <video> or link can open:
 * the path itself while the gateway needs no key, else its signed URL.
 */
export async function outputUrl (jobId, path) {
  if (!apiKey.value) return relative(path)
  const signed = await signedUrls(jobId, { path })
  return relative(signed.outputs.get(path) ?? path)
}

/**
 * An EventSource on the job's live events (it resumes by itself with Last-Event-ID); with a key, on
 * the signed URL (an EventSource cannot send headers). `fresh`: sign again (the last URL was refused).
 */
export async function watchJob (jobId, { fresh = false } = {}) {
  const path = `api/jobs/${encodeURIComponent(jobId)}/events`
  if (!apiKey.value) return new EventSource(path)
  return new EventSource(relative((await signedUrls(jobId, { fresh })).events))
}
