import { randomUUID } from 'node:crypto'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { parseScopes, type Scope } from './scopes.ts'
import { displayPrefix, newSecret, secretHash } from './key-secret.ts'

export interface ApiKeyView {
  id: string
  owner: string
  name: string
  scopes: Scope[]
  prefix: string
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
}

export interface ActiveKey {
  id: string
  owner: string
  scopes: ReadonlySet<Scope>
}

interface Row {
  id: string
  owner: string
  name: string
  scopes: string
  prefix: string
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

function view (row: Row): ApiKeyView {
  return {
    id: row.id,
    owner: row.owner,
    name: row.name,
    scopes: parseScopes(row.scopes),
    prefix: row.prefix,
    created_at: row.createdAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    revoked_at: row.revokedAt?.toISOString() ?? null
  }
}

/** The api_keys table: used by the gateway (lookups, admin routes) and by the CLI (`comfy-jobs keys`). */
export class ApiKeyStore {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  /** A new key; its secret is in the answer and nowhere else. */
  async create (input: { owner: string, name: string, scopes: Scope[] }): Promise<{ key: ApiKeyView, secret: string }> {
    const secret = newSecret()
    const row = await this.#prisma.apiKey.create({
      data: { id: randomUUID(), owner: input.owner, name: input.name, scopes: input.scopes.join(','), secretHash: secretHash(secret), prefix: displayPrefix(secret) }
    })
    return { key: view(row), secret }
  }

  async list (owner?: string): Promise<ApiKeyView[]> {
    const rows = await this.#prisma.apiKey.findMany({ where: owner !== undefined ? { owner } : {}, orderBy: { createdAt: 'asc' } })
    return rows.map(view)
  }

  /** Revokes a key (of `owner` only, when given); null when there is no such key. Revoking twice keeps the first time. */
  async revoke (id: string, owner?: string): Promise<ApiKeyView | null> {
    const mine = owner !== undefined ? { owner } : {}
    await this.#prisma.apiKey.updateMany({ where: { id, revokedAt: null, ...mine }, data: { revokedAt: new Date() } })
    const row = await this.#prisma.apiKey.findFirst({ where: { id, ...mine } })
    return row ? view(row) : null
  }

  /** The key with this secret hash, if it exists and is not revoked. */
  async findActive (hash: string): Promise<ActiveKey | null> {
    const row = await this.#prisma.apiKey.findUnique({ where: { secretHash: hash }, select: { id: true, owner: true, scopes: true, revokedAt: true } })
    if (!row || row.revokedAt !== null) return null
    return { id: row.id, owner: row.owner, scopes: new Set(parseScopes(row.scopes)) }
  }

  async countActive (): Promise<number> {
    return this.#prisma.apiKey.count({ where: { revokedAt: null } })
  }

  async touch (id: string, at: Date): Promise<void> {
    await this.#prisma.apiKey.updateMany({ where: { id }, data: { lastUsedAt: at } })
  }
}
