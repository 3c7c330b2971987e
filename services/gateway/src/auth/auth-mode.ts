import { isIP } from 'node:net'

export type AuthSetting = 'required' | 'off' | 'auto'

/** Loopback: only this machine can connect. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '::ffff:127.0.0.1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

export class AuthStartError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AuthStartError'
  }
}

/**
 * Whether requests need an API key. AUTH=required or off says so; unset (auto), the gateway is open
 * while every address it listens on (HTTP and gRPC) is loopback, and otherwise requires keys — and
 * refuses to start while there is none, as Redis's protected mode does.
 */
export function authRequired (setting: AuthSetting, listens: string[], activeKeys: () => Promise<number>): Promise<boolean> {
  if (setting !== 'auto') return Promise.resolve(setting === 'required')
  const exposed = listens.filter(host => !isLoopback(host))
  if (exposed.length === 0) return Promise.resolve(false)
  // a database that cannot be asked now: start with keys required (the safe side), not refuse
  return activeKeys().then(count => {
    if (count > 0) return true
    throw new AuthStartError(
      `refusing to start: listening on ${exposed.join(', ')} (not loopback) with AUTH unset and no API key. ` +
      'Create a key with `comfy-jobs keys create --owner <name> --scopes admin` (DATABASE_URL set as for the gateway) and start again, ' +
      'or set AUTH=required, or set AUTH=off to serve every client without authentication.')
  }, () => true)
}
