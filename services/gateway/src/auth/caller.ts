import { SCOPES, type ActiveKey, type Scope } from '@comfy-jobs/db'

/** The owner of jobs submitted while authentication is off (and of jobs from before owners existed). */
export const LOCAL_OWNER = 'local'

/** Who is calling: the owner and scopes of the key presented, or the open caller while auth is off. */
export interface Caller {
  owner: string
  scopes: ReadonlySet<Scope>
  /** the API key's id; null while authentication is off or for a signed URL */
  keyId: string | null
  /** sees every owner's jobs: an admin key, auth off, or a signed URL (checked when it was signed) */
  seesAll: boolean
  /** the logged-in user (session cookie); null for an API key, a signed URL or the open caller */
  userId: number | null
}

export const OPEN_CALLER: Caller = Object.freeze({ owner: LOCAL_OWNER, scopes: new Set<Scope>(SCOPES), keyId: null, seesAll: true, userId: null })
/** A request to an open route (the page, liveness) while auth is on: no rights. */
export const NOBODY: Caller = Object.freeze({ owner: '', scopes: new Set<Scope>(), keyId: null, seesAll: false, userId: null })
/** A request with a valid signed URL: reads the one path that was signed. */
export const SIGNED_URL_CALLER: Caller = Object.freeze({ owner: '', scopes: new Set<Scope>(['read']), keyId: null, seesAll: true, userId: null })

export function callerOfKey (key: ActiveKey): Caller {
  return { owner: key.owner, scopes: key.scopes, keyId: key.id, seesAll: key.scopes.has('admin'), userId: null }
}

const USER_SCOPES: ReadonlySet<Scope> = new Set<Scope>(['submit', 'read', 'cancel'])

/** A logged-in user (session cookie): an owner like any other, who sees only their own jobs. */
export function callerOfUser (userId: number, owner: string): Caller {
  return { owner, scopes: USER_SCOPES, keyId: null, seesAll: false, userId }
}

/** Whether the caller may do what `scope` allows (`admin` allows everything). */
export function mayDo (caller: Caller, scope: Scope): boolean {
  return caller.scopes.has(scope) || caller.scopes.has('admin')
}

/** The jobs a caller may see: its owner's, or every owner's (null). */
export function ownerScope (caller: Caller): string | null {
  return caller.seesAll ? null : caller.owner
}
