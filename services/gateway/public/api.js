// Every URL is relative to the page, so the page works when the gateway sits behind a path prefix.

/** A server path such as "/outputs/x.png" as a URL relative to the page. */
export function relative (path) {
  return path.replace(/^\/+/, '')
}

async function json (response) {
  const body = await response.json().catch(() => ({}))
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`)
    error.body = body
    throw error
  }
  return body
}

export async function submitJob (params) {
  return json(await fetch('api/generate', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params)
  }))
}

export async function getHistory ({ limit, before }) {
  const query = new URLSearchParams({ limit: String(limit) })
  if (before) query.set('before', before)
  return json(await fetch(`api/history?${query}`))
}

export async function getJob (jobId) {
  return json(await fetch(`api/jobs/${encodeURIComponent(jobId)}`))
}

/** An EventSource on the job's live events (it resumes by itself with Last-Event-ID). */
export function watchJob (jobId) {
  return new EventSource(`api/jobs/${encodeURIComponent(jobId)}/events`)
}
