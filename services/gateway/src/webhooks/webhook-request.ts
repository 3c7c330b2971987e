import type { GenerateBody } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { ForbiddenAddressError, resolveAllowed } from './address-guard.ts'
import type { WebhookConfig } from './webhook-config.ts'
import { WEBHOOK_EVENTS, type JobWebhook } from './outbox.ts'

function refused (message: string): AppError {
  const details = [{ field: 'webhook', message }]
  return new AppError('VALIDATION', { details, extra: { error: `Invalid request: webhook: ${message}` } })
}

/**
 * A submit's `webhook` and `webhook_events_filter`, checked before anything is written: an https URL
 * (http only to WEBHOOK_ALLOW_HTTP_HOSTS) without credentials, whose host resolves only to addresses a
 * webhook may reach (unless WEBHOOK_ALLOW_PRIVATE). Delivery checks the address again as it connects.
 */
export async function checkWebhook (body: GenerateBody, config: WebhookConfig): Promise<JobWebhook | undefined> {
  if (body.webhook === undefined) {
    if (body.webhook_events_filter !== undefined) {
      const details = [{ field: 'webhook_events_filter', message: 'webhook_events_filter needs a webhook' }]
      throw new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details[0].message}` } })
    }
    return undefined
  }
  let url: URL
  try {
    url = new URL(body.webhook)
  } catch {
    throw refused(`not a URL: ${JSON.stringify(body.webhook.slice(0, 100))}`)
  }
  const host = url.hostname.toLowerCase()
  if (url.protocol === 'http:') {
    if (!config.allowHttpHosts.has(host)) throw refused(`must be https (http only to the hosts in WEBHOOK_ALLOW_HTTP_HOSTS); got http to ${host}`)
  } else if (url.protocol !== 'https:') {
    throw refused(`must be an https URL; got ${url.protocol.replace(/:$/, '')}`)
  }
  if (url.username !== '' || url.password !== '') throw refused('must not carry credentials')
  try {
    await resolveAllowed(host, config.allowPrivate)
  } catch (err) {
    if (err instanceof ForbiddenAddressError) throw refused(`${err.message}; webhooks go to public addresses only`)
    throw refused(`${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return { url: url.toString(), events: body.webhook_events_filter ?? WEBHOOK_EVENTS }
}
