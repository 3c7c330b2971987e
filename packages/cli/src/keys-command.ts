import { parseArgs } from 'node:util'
import { ApiKeyStore, OWNER_PATTERN, createPrismaClient, parseDatabaseUrl, parseScopes, type ApiKeyView } from '@comfy-jobs/db'

export const KEYS_USAGE = `Usage: comfy-jobs keys create --owner <name> --scopes <list> [--name <label>]
       comfy-jobs keys list [--owner <name>] [--json]
       comfy-jobs keys revoke <key id>

Manages the gateway's API keys in its database (DATABASE_URL, as for the gateway; default
mysql://root@127.0.0.1:3306/comfy_jobs), so the first key can be made before any key exists.
Scopes: submit, read, cancel, admin (admin: every owner's jobs, key management, metrics).
The secret (cj_live_…) is printed once by create; only its SHA-256 is stored.
A revoked key is refused at once by a gateway that revoked it over REST (DELETE /api/keys/:id),
and by every gateway within AUTH_KEY_CACHE_MS (default 5 s).`

class KeysUsageError extends Error {}

function line (k: ApiKeyView): string {
  const state = k.revoked_at !== null ? `revoked ${k.revoked_at}` : `last used ${k.last_used_at ?? 'never'}`
  return `${k.id}  ${k.prefix}…  owner=${k.owner}  scopes=${k.scopes.join(',')}  name=${JSON.stringify(k.name)}  created ${k.created_at}  ${state}`
}

/** `comfy-jobs keys …`: returns the exit status (0 done, 1 no such key, 2 bad usage, 3 database unreachable). */
export async function keysCommand (argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, env = process.env): Promise<number> {
  let args
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { owner: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }
    })
  } catch (e) {
    err.write(`comfy-jobs keys: ${(e as Error).message}\n\n${KEYS_USAGE}\n`)
    return 2
  }
  const { values, positionals: [action, ...rest] } = args
  if (values.help) {
    out.write(`${KEYS_USAGE}\n`)
    return 0
  }
  let run: (store: ApiKeyStore) => Promise<number>
  try {
    run = plan(action, rest, values, out)
  } catch (e) {
    if (!(e instanceof KeysUsageError)) throw e
    err.write(`comfy-jobs keys: ${e.message}\n\n${KEYS_USAGE}\n`)
    return 2
  }
  const url = env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs'
  let prisma
  try {
    prisma = createPrismaClient(parseDatabaseUrl(url), { poolSize: 1 })
  } catch (e) {
    err.write(`comfy-jobs keys: DATABASE_URL: ${(e as Error).message}\n`)
    return 2
  }
  try {
    return await run(new ApiKeyStore(prisma))
  } catch (e) {
    err.write(`comfy-jobs keys: the database could not be used (${((e as Error).message || String((e as Error).cause ?? e)).split('\n')[0]}); is DATABASE_URL right and has the gateway migrated it once?\n`)
    return 3
  } finally {
    await prisma.$disconnect()
  }
}

function plan (action: string | undefined, rest: string[], values: { owner?: string, scopes?: string, name?: string, json?: boolean }, out: NodeJS.WritableStream): (store: ApiKeyStore) => Promise<number> {
  if (action === 'create') {
    if (rest.length > 0) throw new KeysUsageError(`create takes no arguments, got ${JSON.stringify(rest[0])}`)
    if (values.owner === undefined || !OWNER_PATTERN.test(values.owner)) throw new KeysUsageError('--owner is required: lowercase letters, digits, _ . - (at most 64)')
    if (values.scopes === undefined) throw new KeysUsageError('--scopes is required: a comma list of submit, read, cancel, admin')
    let scopes
    try { scopes = parseScopes(values.scopes) } catch (e) { throw new KeysUsageError(`--scopes: ${(e as Error).message}`) }
    const owner = values.owner
    const name = values.name ?? `${owner} key`
    if (name.length > 128) throw new KeysUsageError('--name is at most 128 characters')
    return async store => {
      const { key, secret } = await store.create({ owner, name, scopes })
      if (values.json) out.write(`${JSON.stringify({ key, secret })}\n`)
      else out.write(`${line(key)}\n\nsecret (shown once, store it now):\n${secret}\n`)
      return 0
    }
  }
  if (action === 'list') {
    if (rest.length > 0) throw new KeysUsageError(`list takes no arguments, got ${JSON.stringify(rest[0])}`)
    return async store => {
      const keys = await store.list(values.owner)
      out.write(values.json ? `${JSON.stringify({ keys })}\n` : keys.map(k => `${line(k)}\n`).join(''))
      return 0
    }
  }
  if (action === 'revoke') {
    if (rest.length !== 1) throw new KeysUsageError('revoke takes one key id (see keys list)')
    return async store => {
      const key = await store.revoke(rest[0])
      if (key === null) {
        out.write(`no API key ${rest[0]}\n`)
        return 1
      }
      out.write(values.json ? `${JSON.stringify({ key })}\n` : `${line(key)}\n`)
      return 0
    }
  }
  throw new KeysUsageError(`expected create, list or revoke, got ${JSON.stringify(action ?? '')}`)
}
