/** What an API key may do. `admin`: every owner's jobs, key management, metrics, docs, detailed health. */
export const SCOPES = ['submit', 'read', 'cancel', 'admin'] as const
export type Scope = typeof SCOPES[number]

/** An owner name: what a key belongs to, and so its jobs. */
export const OWNER_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,63}$/

/** Parses a comma list of scopes; throws naming the first unknown one. */
export function parseScopes (list: string): Scope[] {
  const scopes = [...new Set(list.split(',').map(s => s.trim()).filter(Boolean))]
  if (scopes.length === 0) throw new Error(`scopes must name at least one of ${SCOPES.join(', ')}`)
  for (const s of scopes) {
    if (!(SCOPES as readonly string[]).includes(s)) throw new Error(`unknown scope ${JSON.stringify(s)}: expected ${SCOPES.join(', ')}`)
  }
  return scopes as Scope[]
}
