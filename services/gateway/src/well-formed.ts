import { AppError } from './app-error.ts'

/** A UTF-16 surrogate not paired with its other half (with the u flag, a pair is one code point and does not match). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * The first string in a decoded request (JSON or protobuf) that is not well-formed Unicode, as a
 * field path and what is wrong, or null. Such a string cannot be stored as UTF-8: the database would
 * silently replace the surrogate, so the job would run a prompt the client did not send.
 */
export function illFormedString (value: unknown, path = ''): { field: string, message: string } | null {
  if (typeof value === 'string') {
    const at = value.search(LONE_SURROGATE)
    if (at < 0) return null
    const field = path || '(body)'
    const unit = value.charCodeAt(at).toString(16).toUpperCase()
    return { field, message: `${field} contains a lone surrogate (U+${unit}) at character ${at}: text must be well-formed Unicode` }
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = illFormedString(value[i], `${path}[${i}]`)
      if (found) return found
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const keyProblem = illFormedString(key, path)
      if (keyProblem) return { field: path || '(body)', message: `a field name in ${path || 'the body'} contains a lone surrogate` }
      const found = illFormedString(v, path ? `${path}.${key}` : key)
      if (found) return found
    }
  }
  return null
}

/** Refuses a decoded request holding a string that is not well-formed Unicode, naming the field. */
export function assertWellFormed (value: unknown): void {
  const problem = illFormedString(value)
  if (problem) throw new AppError('VALIDATION', { details: [problem], extra: { error: `Invalid request: ${problem.message}` } })
}
