import type { PrismaClient } from '@comfy-jobs/db'
import { newSecret } from './signature.ts'

export interface SecretInfo {
  secret: string
  created_at: string
  /** null for the current secret; for an older one, until when it still signs */
  expires_at: string | null
}

/** Each owner's signing secrets (table webhook_secrets): the newest signs, older ones until they expire. */
export class WebhookSecrets {
  readonly #prisma: PrismaClient

  constructor (prisma: PrismaClient) {
    this.#prisma = prisma
  }

  /** The secrets that sign now, newest first; the first use makes the owner's first secret. */
  async signing (owner: string, now = new Date()): Promise<string[]> {
    const rows = await this.#inForce(owner, now)
    if (rows.length > 0) return rows.map(r => r.secret)
    return [(await this.#create(owner)).secret]
  }

  /** The owner's secrets in force, newest first (made on first use). */
  async list (owner: string, now = new Date()): Promise<SecretInfo[]> {
    let rows = await this.#inForce(owner, now)
    if (rows.length === 0) rows = [await this.#create(owner)]
    return rows.map(r => ({ secret: r.secret, created_at: r.createdAt.toISOString(), expires_at: r.expiresAt?.toISOString() ?? null }))
  }

  /** A new secret signs from now on; the ones in force now go on signing for `overlapMs`. */
  async rotate (owner: string, overlapMs: number, now = new Date()): Promise<SecretInfo[]> {
    const until = new Date(now.getTime() + overlapMs)
    await this.#prisma.$transaction(async tx => {
      await tx.webhookSecret.updateMany({ where: { owner, OR: [{ expiresAt: null }, { expiresAt: { gt: until } }] }, data: { expiresAt: until } })
      await tx.webhookSecret.create({ data: { owner, secret: newSecret(), createdAt: now } })
    })
    return this.list(owner, now)
  }

  #inForce (owner: string, now: Date) {
    return this.#prisma.webhookSecret.findMany({
      where: { owner, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }]
    })
  }

  /** Two gateways making an owner's first secret at once both sign with theirs: both are in force. */
  #create (owner: string) {
    return this.#prisma.webhookSecret.create({ data: { owner, secret: newSecret() } })
  }
}
