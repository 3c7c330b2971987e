export const SESSION_COOKIE = 'cj_session'
/** 32 random bytes, base64url */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

/** The session id in a Cookie header, if one is there and well formed. */
export function sessionIdOf (cookieHeader: string | undefined): string | null {
  if (cookieHeader === undefined) return null
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue
    const value = part.slice(eq + 1).trim()
    if (SESSION_ID.test(value)) return value
  }
  return null
}

/**
 * The Set-Cookie value: HttpOnly (no script reads it), SameSite=Lax (another site's pages cannot
 * send it with a POST), Path=/, Secure when the page came over https. `maxAge` 0 deletes it.
 */
export function sessionCookie (id: string, opts: { maxAgeSeconds: number, secure: boolean }): string {
  return [
    `${SESSION_COOKIE}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${opts.maxAgeSeconds}`,
    ...(opts.secure ? ['Secure'] : [])
  ].join('; ')
}
