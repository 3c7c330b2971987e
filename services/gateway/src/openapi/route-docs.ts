/**
 * What the OpenAPI document says of each route beyond its schemas: the resource it belongs to (the
 * group in /docs), a summary, and a real example of its request and answers. Kept here, in one
 * place, rather than in every route file; a test checks every documented route has all three and
 * that each example matches the route's own schema.
 */

const JOB_ID = '019accd4-3b9e-7d2c-a9f4-5c3b1e0d7a61'
const CREATED = '2026-12-03T14:05:12.345Z'
const STARTED = '2026-12-03T14:05:12.512Z'
const FINISHED = '2026-12-03T14:05:13.801Z'
const OUTPUT = { index: 0, url: `/outputs/${JOB_ID}.png`, kind: 'image', mime: 'image/png', width: 1024, height: 1024, bytes: 586529 }

export const TAGS = [
  { name: 'Jobs', description: 'submit a job, follow it (status, record, live events), cancel it, list past jobs' },
  { name: 'Files', description: 'input files (uploads) and the outputs jobs made' },
  { name: 'Workflows', description: 'what the workers can run: workflows, their inputs, models' },
  { name: 'Webhooks', description: 'signed job webhooks: the secrets that sign them, and each job\'s delivery log' },
  { name: 'Keys', description: 'API keys (admin): make, list, revoke' },
  { name: 'Accounts', description: 'users (the original pages\' register and login), their session cookie, their own API keys' },
  { name: 'Service', description: 'health, readiness and metrics' }
] as const

type Tag = typeof TAGS[number]['name']

export interface RouteDoc {
  tag: Tag
  summary: string
  /** the request body's example (JSON routes) */
  request?: unknown
  /** an example answer per status code, JSON unless the route says otherwise */
  responses: Record<string, unknown>
}

/** A queued job that no live worker can run (capability routing): its status says why it waits. */
const waitingStatus = {
  job_id: JOB_ID,
  status: 'queued',
  progress: 0,
  image_url: null,
  error: null,
  source: 'redis',
  created_at: CREATED,
  updated_at: CREATED,
  waiting_reason: 'waiting for a worker that can run workflow text_to_video with model wan_t2v_1_3b: none of the 2 live worker(s) can'
}

const USER = { id: 7, email: 'mei@example.com', name: 'Mei', role: 'user', created_at: CREATED }
const USER_KEY = { id: '019accd1-88bb-7c01-9e3b-2f1d0c4b5a70', owner: 'user:7', name: 'mei laptop', scopes: ['submit', 'read'], prefix: 'cj_live_9dQe', created_at: CREATED, last_used_at: null, revoked_at: null }

const notFound = { error: 'Job not found', code: 'JOB_NOT_FOUND', job_id: JOB_ID, message: '任務不存在或已被刪除' }

const health = {
  status: 'ok',
  redis: 'healthy',
  mysql: 'healthy',
  workers: {
    configured: 1,
    connected: 1,
    standby: 0,
    list: [{ address: '127.0.0.1:50051', discovered: false, connected: true, standby: false, worker_id: 'host-1-4242', ready: true }],
    unstreamed: []
  }
}

/** By OpenAPI method and path. */
export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'POST /api/generate': {
    tag: 'Jobs',
    summary: 'Submit a job: recorded, queued and given a status in one transaction',
    request: { prompt: 'a red cat', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '1:1', seed: 12345 },
    responses: {
      200: { job_id: JOB_ID, status: 'queued', message: '任務已成功提交' },
      400: { error: 'Invalid request: seed must be -1 (random) or an integer from 0 to 4294967295', code: 'VALIDATION', details: [{ field: 'seed', message: 'seed must be -1 (random) or an integer from 0 to 4294967295' }] },
      500: { error: '任務佇列異常，請稍後再試', code: 'QUEUE_UNAVAILABLE' }
    }
  },
  'GET /api/status/{job_id}': {
    tag: 'Jobs',
    summary: 'A job\'s status: Redis first, then the database (`source` says which); a queued job no live worker can run says why (`waiting_reason`)',
    responses: { 200: waitingStatus, 404: notFound }
  },
  'POST /api/cancel/{job_id}': {
    tag: 'Jobs',
    summary: 'Cancel a job: a queued one never runs, a running one is stopped on its worker (gRPC CancelJob)',
    responses: {
      200: { success: true, message: 'Task cancelled', job_id: JOB_ID, previous_status: 'processing' },
      400: { success: false, message: 'Cannot cancel job with status: finished', error: 'Cannot cancel job with status: finished', code: 'JOB_NOT_CANCELLABLE', job_status: 'finished' },
      404: notFound
    }
  },
  'GET /api/jobs/{job_id}': {
    tag: 'Jobs',
    summary: 'A job\'s full record: parameters, inputs, timestamps, outputs, runs, error',
    responses: {
      200: {
        job_id: JOB_ID,
        status: 'finished',
        progress: 100,
        step: 8,
        total_steps: 8,
        prompt: 'a red cat',
        workflow: 'text_to_image',
        model: 'turbo_fp8',
        params: { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 12345, batch_size: 1 },
        attempts: 1,
        worker_id: 'host-1-4242',
        error: null,
        image_url: OUTPUT.url,
        outputs: [OUTPUT],
        inputs: {},
        prompts: [],
        created_at: CREATED,
        started_at: STARTED,
        finished_at: FINISHED,
        updated_at: FINISHED
      },
      404: notFound
    }
  },
  'GET /api/jobs/{job_id}/events': {
    tag: 'Jobs',
    summary: 'A job\'s live events (Server-Sent Events): a snapshot, then every event up to the end; resumable with Last-Event-ID',
    responses: {
      200: `id: 1733234712345.2\nevent: snapshot\ndata: {"job_id":"${JOB_ID}","status":"processing","progress":25}\n\nid: 1733234712345.3\nevent: progress\ndata: {"job_id":"${JOB_ID}","seq":3,"type":"progress","progress":50,"step":4,"total_steps":8}\n\n`,
      404: notFound
    }
  },
  'GET /api/jobs/{job_id}/webhooks': {
    tag: 'Webhooks',
    summary: 'A job\'s webhook deliveries: each event, its attempts and status codes, the next retry',
    responses: {
      200: {
        job_id: JOB_ID,
        webhook: 'https://hooks.example.com/comfy',
        events: ['start', 'completed'],
        deliveries: [
          { webhook_id: `msg_${JOB_ID}_start`, event: 'start', state: 'delivered', attempts: 1, last_status: 200, last_error: null, created_at: STARTED, delivered_at: STARTED, next_attempt_at: null, attempt_log: [{ attempt: 1, at: STARTED, status_code: 200, error: null, duration_ms: 41 }] },
          { webhook_id: `msg_${JOB_ID}_completed`, event: 'completed', state: 'pending', attempts: 1, last_status: 503, last_error: 'answered 503', created_at: FINISHED, delivered_at: null, next_attempt_at: '2026-12-03T14:05:18.801Z', attempt_log: [{ attempt: 1, at: FINISHED, status_code: 503, error: 'answered 503', duration_ms: 37 }] }
        ]
      },
      404: notFound
    }
  },
  'GET /api/webhooks/secrets': {
    tag: 'Webhooks',
    summary: 'The secrets that sign your webhooks, newest first (the first is made on first use)',
    responses: { 200: { owner: 'alice', secrets: [{ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', created_at: CREATED, expires_at: null }] } }
  },
  'POST /api/webhooks/secrets/rotate': {
    tag: 'Webhooks',
    summary: 'A new signing secret; the old ones go on signing for `overlap_seconds` (default 24 h)',
    request: { overlap_seconds: 3600 },
    responses: {
      200: {
        owner: 'alice',
        secrets: [
          { secret: 'whsec_c2VjcmV0LW5ldy1rZXktMDEyMzQ1Njc4OWFi', created_at: FINISHED, expires_at: null },
          { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', created_at: CREATED, expires_at: '2026-12-03T15:05:13.801Z' }
        ]
      },
      400: { error: 'Invalid request: overlap_seconds must be <= 2592000', code: 'VALIDATION', details: [{ field: 'overlap_seconds', message: 'must be <= 2592000' }] }
    }
  },
  'GET /api/jobs/{job_id}/signed-urls': {
    tag: 'Jobs',
    summary: 'Short-lived signed URLs for the job\'s event stream and outputs (for EventSource, <img>, <video>)',
    responses: {
      200: {
        events: `/api/jobs/${JOB_ID}/events?exp=1733235612&sig=q3Jx0b2mVtY8dKcW1nZr6Q`,
        outputs: [`/outputs/${JOB_ID}.png?exp=1733235612&sig=Hn4fP9sLw2aRk7cTq0vB1g`],
        expires_at: '2026-12-03T14:20:13.801Z'
      },
      404: notFound
    }
  },
  'GET /api/history': {
    tag: 'Jobs',
    summary: 'Past jobs, newest first, paged by offset or by the `before` cursor',
    responses: {
      200: {
        total: 1,
        limit: 50,
        offset: 0,
        jobs: [{ id: JOB_ID, prompt: 'a red cat', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '1:1', batch_size: 1, seed: 12345, status: 'finished', created_at: CREATED, updated_at: FINISHED, output_path: OUTPUT.url, error: null }],
        next_before: null
      }
    }
  },
  'POST /api/upload': {
    tag: 'Files',
    summary: 'Upload an input file (multipart field `file`): checked by its bytes, stored by its sha256',
    responses: {
      200: { name: '3f1c0e7a9d2b4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6.png', size: 48213, type: 'image/png', kind: 'image', width: 640, height: 480, filename: '3f1c0e7a9d2b4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6.png', original_name: 'photo.png' }
    }
  },
  'GET /outputs/{*}': {
    tag: 'Files',
    summary: 'An output file, with its content type, Range requests, ETag and cache headers',
    responses: { 200: '(the PNG bytes)' }
  },
  'GET /api/workflows': {
    tag: 'Workflows',
    summary: 'The workflows the workers can run, with their inputs and models',
    responses: {
      200: {
        workflows: [{
          name: 'upscale',
          aliases: [],
          description: 'upscale an image 2x',
          models: ['realesrgan_x2'],
          model_files: [],
          prompt: 'none',
          max_prompts: 0,
          inputs: [{ name: 'input', kind: 'image', required: true, min: 1, max: 1, members: [], description: 'the image to upscale', accepts: ['image/png', 'image/jpeg', 'image/webp'], max_bytes: 10485760, max_pixels: 40000000, max_side: 16384 }]
        }]
      }
    }
  },
  'GET /api/models': {
    tag: 'Workflows',
    summary: 'The model names the workers can load, in the original system\'s shape (checkpoints, and diffusion models apart)',
    responses: { 200: { models: ['realesrgan_x2'], unet_models: ['turbo_fp8'] } }
  },
  'GET /api/health': {
    tag: 'Service',
    summary: 'Redis, the database and each worker (streamed here or by another gateway, ready or why not)',
    responses: { 200: health }
  },
  'GET /health': {
    tag: 'Service',
    summary: 'The same as /api/health',
    responses: { 200: health }
  },
  'GET /ready': {
    tag: 'Service',
    summary: 'Whether this gateway takes submits now (503 with Retry-After and the reasons when not)',
    responses: {
      200: { ready: true, reasons: [], queue: { waiting: 3, max_depth: 10000 }, workers: { configured: 1, connected: 1 } },
      503: { ready: false, reasons: ['the database does not answer'], queue: { waiting: 3, max_depth: 10000 }, workers: { configured: 1, connected: 1 } }
    }
  },
  'POST /api/keys': {
    tag: 'Keys',
    summary: 'Make an API key for an owner with scopes; its secret is answered once, here',
    request: { owner: 'alice', name: 'alice laptop', scopes: ['submit', 'read', 'cancel'] },
    responses: {
      201: { key: { id: '019accd1-77aa-7c01-9e3b-2f1d0c4b5a69', owner: 'alice', name: 'alice laptop', scopes: ['submit', 'read', 'cancel'], prefix: 'cj_live_3qXv', created_at: CREATED, last_used_at: null, revoked_at: null }, secret: 'cj_live_3qXvR0c9mB2kLw8tZp4sYn6dHf1gJa7eUo5iVx3' },
      400: { error: 'Invalid request: owner must match pattern', code: 'VALIDATION', details: [{ field: 'owner', message: 'must match pattern' }] }
    }
  },
  'GET /api/keys': {
    tag: 'Keys',
    summary: 'The API keys (never their secrets), of one owner with `owner`',
    responses: { 200: { keys: [{ id: '019accd1-77aa-7c01-9e3b-2f1d0c4b5a69', owner: 'alice', name: 'alice laptop', scopes: ['submit', 'read', 'cancel'], prefix: 'cj_live_3qXv', created_at: CREATED, last_used_at: null, revoked_at: null }] } }
  },
  'DELETE /api/keys/{key_id}': {
    tag: 'Keys',
    summary: 'Revoke an API key: refused at once here, within AUTH_KEY_CACHE_MS by every gateway',
    responses: {
      200: { key: { id: '019accd1-77aa-7c01-9e3b-2f1d0c4b5a69', owner: 'alice', name: 'alice laptop', scopes: ['submit', 'read', 'cancel'], prefix: 'cj_live_3qXv', created_at: CREATED, last_used_at: null, revoked_at: FINISHED } },
      404: { error: 'Not found', code: 'NOT_FOUND', details: 'no API key 019accd1-0000-7000-8000-000000000000' }
    }
  },
  'POST /api/register': {
    tag: 'Accounts',
    summary: 'Create an account with email, password (8 to 256 characters) and name; then log in',
    request: { email: 'mei@example.com', password: 'correct horse battery', name: 'Mei' },
    responses: {
      201: { success: true, user: USER },
      400: { error: 'Invalid request: email must be an email address such as name@example.com', code: 'VALIDATION', details: [{ field: 'email', message: 'email must be an email address such as name@example.com' }] },
      409: { error: 'An account with this email already exists', code: 'EMAIL_TAKEN', details: [{ field: 'email', message: 'an account with this email exists: log in instead' }] }
    }
  },
  'POST /api/login': {
    tag: 'Accounts',
    summary: 'Log in: answers the user and sets the session cookie (HttpOnly, SameSite=Lax, Secure over https)',
    request: { email: 'mei@example.com', password: 'correct horse battery' },
    responses: {
      200: { success: true, user: USER },
      401: { error: 'Invalid email or password', code: 'INVALID_CREDENTIALS' },
      429: { error: 'Too many login attempts; try again later', code: 'TOO_MANY_LOGINS', details: 'too many login attempts for this email: try again in 840 s' }
    }
  },
  'POST /api/logout': {
    tag: 'Accounts',
    summary: 'Log out: the session is deleted on the server and the cookie cleared',
    responses: { 200: { success: true, message: 'Logged out' } }
  },
  'GET /api/me': {
    tag: 'Accounts',
    summary: 'Who the session cookie belongs to; always 200, `logged_in: false` without a valid session',
    responses: { 200: { logged_in: true, user: USER } }
  },
  'DELETE /api/me/sessions': {
    tag: 'Accounts',
    summary: 'Log out everywhere: every session of the logged-in user is deleted',
    responses: { 200: { success: true, revoked: 2 }, 401: { error: 'Log in first', code: 'SESSION_REQUIRED' } }
  },
  'GET /api/me/keys': {
    tag: 'Accounts',
    summary: 'The logged-in user\'s own API keys (never their secrets)',
    responses: { 200: { keys: [USER_KEY] } }
  },
  'POST /api/me/keys': {
    tag: 'Accounts',
    summary: 'Make an API key of the logged-in user (submit, read, cancel); the secret is answered once, here',
    request: { name: 'mei laptop', scopes: ['submit', 'read'] },
    responses: {
      201: { key: USER_KEY, secret: 'cj_live_9dQeR0c9mB2kLw8tZp4sYn6dHf1gJa7eUo5iVx3' },
      400: { error: 'Invalid request: scopes.0 must be equal to one of the allowed values', code: 'VALIDATION', details: [{ field: 'scopes.0', message: 'scopes.0 must be equal to one of the allowed values' }] }
    }
  },
  'DELETE /api/me/keys/{key_id}': {
    tag: 'Accounts',
    summary: 'Revoke one of the logged-in user\'s API keys (another owner\'s is an unknown one)',
    responses: {
      200: { key: { ...USER_KEY, revoked_at: FINISHED } },
      404: { error: 'Not found', code: 'NOT_FOUND', details: 'no API key 019accd1-0000-7000-8000-000000000000' }
    }
  },
  'GET /api/metrics': {
    tag: 'Service',
    summary: 'Queue length, whether a worker consumes the queue, jobs running',
    responses: { 200: { queue_length: 3, worker_status: 'online', active_jobs: 1 } }
  },
  'GET /metrics': {
    tag: 'Service',
    summary: 'Prometheus metrics',
    responses: { 200: '# TYPE comfy_jobs_submitted_total counter\ncomfy_jobs_submitted_total{workflow="text_to_image"} 42\n' }
  }
}

type Operation = { tags?: string[], summary?: string, requestBody?: any, responses?: Record<string, any> }

/** Adds the catalogue to the generated document: tags, summaries, examples. */
export function withRouteDocs (doc: { paths?: Record<string, Record<string, Operation>>, tags?: unknown[] }): typeof doc {
  doc.tags = TAGS.map(t => ({ ...t }))
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      const docs = ROUTE_DOCS[`${method.toUpperCase()} ${path}`]
      if (docs === undefined) continue
      op.tags = [docs.tag]
      op.summary = docs.summary
      const json = op.requestBody?.content?.['application/json']
      if (docs.request !== undefined && json !== undefined) json.example = docs.request
      for (const [code, example] of Object.entries(docs.responses)) {
        const response = op.responses?.[code]
        if (response === undefined) continue
        // a text example (an output's bytes, an event stream) belongs to the first content type only
        const types = Object.keys(response.content ?? {})
        for (const type of typeof example === 'string' ? types.slice(0, 1) : types) response.content[type].example = example
      }
    }
  }
  return doc
}
