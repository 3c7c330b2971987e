import { createHmac, randomBytes } from 'node:crypto'

/** Standard Webhooks secrets: `whsec_` + base64 of the key bytes. */
export const SECRET_PREFIX = 'whsec_'

export function newSecret (): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64')
}

/**
 * The `webhook-signature` header (Standard Webhooks): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
 * one per secret in force, space-separated (during a rotation the old and the new both sign).
 */
export function signatureHeader (secrets: readonly string[], webhookId: string, timestampSeconds: number, body: string): string {
  return secrets.map(secret => {
    const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64')
    return 'v1,' + createHmac('sha256', key).update(`${webhookId}.${timestampSeconds}.${body}`).digest('base64')
  }).join(' ')
}
