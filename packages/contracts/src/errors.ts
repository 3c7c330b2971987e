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
  IDEMPOTENCY_CONFLICT: { status: 409, error: 'Idempotency-Key was already used with a different request' },
  RATE_LIMITED: { status: 429, error: 'Too many submits; slow down' },
  JOB_NOT_FOUND: { status: 404, error: 'Job not found', message: '任務不存在或已被刪除' },
  /** thrown with the job's status in the text: "Cannot cancel job with status: finished" */
  JOB_NOT_CANCELLABLE: { status: 400, error: 'Cannot cancel job with status' },
  /** a job's event history (Redis) cannot be read: a watch cannot start or go on; resume later */
  EVENTS_UNAVAILABLE: { status: 503, error: 'Job events are unavailable, try again shortly' },
  NOT_FOUND: { status: 404, error: 'Not found' },
  FORBIDDEN_PATH: { status: 403, error: 'Forbidden' },
  PAYLOAD_TOO_LARGE: { status: 413, error: 'Request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, error: 'Unsupported media type' },
  UPLOAD_TOO_LARGE: { status: 413, error: 'Upload is too large' },
  UNSUPPORTED_IMAGE_TYPE: { status: 415, error: 'Unsupported image type: send a PNG, JPEG or WebP file' },
  INTERNAL: { status: 500, error: 'Internal error' }
} as const

export type ErrorCode = keyof typeof ERRORS

export const SUBMIT_MESSAGE = '任務已成功提交'
export const CANCEL_MESSAGE = 'Task cancelled'
