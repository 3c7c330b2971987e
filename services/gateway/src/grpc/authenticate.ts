import type * as grpc from '@grpc/grpc-js'
import type { Scope } from '@comfy-jobs/db'
import { AppError } from '../app-error.ts'
import { mayDo, type Caller } from '../auth/caller.ts'

/** The `authorization` metadata (`Bearer <key>`) as a caller; throws UNAUTHENTICATED, AUTH_UNAVAILABLE. */
export type CallerOf = (authorization: string | undefined) => Promise<Caller>

/** The caller of a call that needs `scope`: REST's rules over gRPC metadata (PERMISSION_DENIED without the scope). */
export async function authenticate (callerOf: CallerOf, metadata: grpc.Metadata, scope: Scope): Promise<Caller> {
  const [value] = metadata.get('authorization')
  const caller = await callerOf(value === undefined ? undefined : String(value))
  if (!mayDo(caller, scope)) throw new AppError('MISSING_SCOPE', { details: `this call needs the ${scope} scope` })
  return caller
}
