import { fieldProblem } from '../validation-errors.ts'

export const EMAIL_MAX = 254
export const NAME_MAX = 100
export const PASSWORD_MIN = 8
/** scrypt takes any length; a bound keeps a login from hashing megabytes */
export const PASSWORD_MAX = 256

// one @, no spaces, a dot in the domain: what a mail system will deliver to, not all RFC 5322 allows
const EMAIL = /^[^\s@"(),:;<>[\\\]]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/

/** An email as stored and looked up: trimmed, lowercase; a 400 naming `email` when it is not one. */
export function normalizeEmail (raw: string): string {
  const email = raw.trim().toLowerCase()
  if (email.length > EMAIL_MAX || !EMAIL.test(email)) throw fieldProblem('email', 'email must be an email address such as name@example.com')
  return email
}

export function checkPassword (password: string): string {
  if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    throw fieldProblem('password', `password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`)
  }
  return password
}

export function normalizeName (raw: string): string {
  const name = raw.trim()
  // eslint-disable-next-line no-control-regex
  if (name.length === 0 || name.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(name)) {
    throw fieldProblem('name', `name must be 1 to ${NAME_MAX} characters, without control characters`)
  }
  return name
}
