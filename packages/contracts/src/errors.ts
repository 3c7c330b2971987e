/**
 * The one catalogue of errors the services return. Codes are stable; messages in zh-TW are the
 * original system's texts, byte for byte, where the original returned the same field.
 */
export const ERRORS = {
  VALIDATION: { status: 400, error: 'Invalid request' },
  QUEUE_UNAVAILABLE: { status: 500, error: '任務佇列異常，請稍後再試' },
  JOB_CREATE_FAILED: { status: 500, error: '任務建立失敗' },
  OVERLOADED: { status: 503, error: '系統忙碌中，請稍後再試' },
  DATABASE_UNAVAILABLE: { status: 503, error: '資料庫暫時無法使用，請稍後再試' },
  /**
   * the commit of a submit got no answer and the database could not be asked in time: the job may or
   * may not exist; the answer names it and how to learn which
   */
  OUTCOME_UNKNOWN: {
    status: 503,
    error: 'The job may or may not have been created: the database did not confirm the commit in time',
    message: 'GET /api/status/{job_id} tells which once the database answers (200: created, 404: not created); or repeat the request with the same Idempotency-Key: it returns this job if it was created and creates it once if it was not'
  },
  IDEMPOTENCY_CONFLICT: { status: 409, error: 'Idempotency-Key was already used with a different request' },
  RATE_LIMITED: { status: 429, error: 'Too many submits; slow down' },
  TOO_MANY_UPLOADS: { status: 429, error: 'Too many uploads; slow down' },
  /** the owner already has MAX_LIVE_JOBS_PER_OWNER queued or processing jobs: nothing was created; retry after Retry-After */
  TOO_MANY_LIVE_JOBS: {
    status: 429,
    error: 'Too many live jobs for this owner',
    message: 'wait until one of your queued or processing jobs ends (or cancel one), then submit again'
  },
  /** the owner's uploads within UPLOAD_RETENTION_SECONDS already reach UPLOAD_MAX_FILES_PER_OWNER or UPLOAD_MAX_BYTES_PER_OWNER */
  UPLOAD_QUOTA_EXCEEDED: {
    status: 429,
    error: 'Upload quota exceeded for this owner',
    message: 'uploads count against their owner until UPLOAD_RETENTION_SECONDS after they were stored; the same file again costs nothing'
  },
  /** more jobs wait in the queue than MAX_QUEUE_DEPTH: nothing was created; retry after Retry-After */
  QUEUE_FULL: { status: 503, error: 'The job queue is full; try again later' },
  /** a state-changing request made by a page of another site (not in CORS_ORIGINS) */
  CROSS_SITE_REFUSED: { status: 403, error: 'Cross-site request refused', message: 'a page of another site may not change jobs here; the gateway\'s CORS_ORIGINS lists the origins that may' },
  JOB_NOT_FOUND: { status: 404, error: 'Job not found', message: '任務不存在或已被刪除' },
  /** thrown with the job's status in the text: "Cannot cancel job with status: finished" */
  JOB_NOT_CANCELLABLE: { status: 400, error: 'Cannot cancel job with status' },
  /** a job's event history (Redis) cannot be read: a watch cannot start or go on; resume later */
  EVENTS_UNAVAILABLE: { status: 503, error: 'Job events are unavailable, try again shortly' },
  NOT_FOUND: { status: 404, error: 'Not found' },
  FORBIDDEN_PATH: { status: 403, error: 'Forbidden' },
  /** no API key, an unknown or revoked one, or a signed URL that is forged or expired */
  UNAUTHENTICATED: {
    status: 401,
    error: 'Authentication required',
    message: 'send an API key as `Authorization: Bearer <key>` (gRPC: `authorization` metadata); an administrator creates one with `comfy-jobs keys create`'
  },
  /** the key is valid but lacks the scope the route needs */
  MISSING_SCOPE: { status: 403, error: 'This API key lacks the scope this request needs' },
  /** the key could not be checked (the database is unreachable and the key is not cached) */
  AUTH_UNAVAILABLE: { status: 503, error: 'API keys cannot be checked right now, try again shortly' },
  /** a login session could not be checked (Redis is unreachable) */
  SESSIONS_UNAVAILABLE: { status: 503, error: 'Sessions cannot be checked right now, try again shortly' },
  /** register: an account with this email exists (the original's 409) */
  EMAIL_TAKEN: { status: 409, error: 'An account with this email already exists' },
  /** login: no such email, or the wrong password (which one is not said) */
  INVALID_CREDENTIALS: { status: 401, error: 'Invalid email or password' },
  /** too many login attempts for this email or from this address within LOGIN_WINDOW_SECONDS; retry after Retry-After */
  TOO_MANY_LOGINS: { status: 429, error: 'Too many login attempts; try again later' },
  /** too many registrations from this address in a minute */
  TOO_MANY_REGISTRATIONS: { status: 429, error: 'Too many registrations; slow down' },
  /** POST /api/register while ALLOW_REGISTRATION=false */
  REGISTRATION_CLOSED: { status: 403, error: 'Registration is closed on this service' },
  /** a route only a logged-in user (session cookie) may use, called with an API key or nothing */
  SESSION_REQUIRED: { status: 401, error: 'Log in first', message: 'this route is for a logged-in user: POST /api/login, then call it with the session cookie' },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'Request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, error: 'Unsupported media type' },
  UPLOAD_TOO_LARGE: { status: 413, error: 'Upload is too large' },
  UNSUPPORTED_UPLOAD_TYPE: { status: 415, error: 'Unsupported file type: send a PNG, JPEG or WebP image, or a WAV, MP3, FLAC or Ogg sound' },
  INTERNAL: { status: 500, error: 'Internal error' }
} as const

export type ErrorCode = keyof typeof ERRORS

export const SUBMIT_MESSAGE = '任務已成功提交'
export const CANCEL_MESSAGE = 'Task cancelled'
