import type { FastifyBaseLogger as Logger } from 'fastify'
import type { PrismaClient } from '@comfy-jobs/db'
import type { JobStore } from '../jobs/job-store.ts'
import { jobRecordView } from '../jobs/record-views.ts'
import type { WebhookConfig } from './webhook-config.ts'
import type { WebhookSecrets } from './webhook-secrets.ts'
import { signatureHeader } from './signature.ts'
import { sendWebhook } from './webhook-sender.ts'

export interface DispatcherDeps {
  prisma: PrismaClient
  store: JobStore
  secrets: WebhookSecrets
  config: WebhookConfig
  logger: Logger
}

/** The delay before attempt `attempt + 1`: exponential from the base, capped, with equal jitter. */
export function retryDelayMs (attempt: number, config: Pick<WebhookConfig, 'retryBaseMs' | 'retryMaxMs'>): number {
  const full = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.min(attempt - 1, 40))
  return Math.round(full / 2 + Math.random() * full / 2)
}

/**
 * Delivers the webhook outbox (table webhook_deliveries), at least once. Any gateway delivers any row:
 * a row is claimed by a lease (`locked_until`) for one attempt, so a gateway that dies mid-attempt
 * leaves it to be sent again, with the same webhook-id, once the lease has passed. A job's rows go
 * in order: a row waits while an earlier row of its job is pending, so `completed` never overtakes
 * the job's earlier events. Woken by this gateway's transitions; polls every WEBHOOK_POLL_MS for the
 * rest (retries coming due, rows of other gateways).
 */
export class WebhookDispatcher {
  readonly #d: DispatcherDeps
  readonly #inFlight = new Set<Promise<void>>()
  #closed = false
  #woken = false
  #wake: (() => void) | null = null
  #loop: Promise<void> | null = null

  constructor (deps: DispatcherDeps) {
    this.#d = deps
  }

  start (): void {
    this.#loop ??= this.#run()
  }

  wake (): void {
    this.#woken = true
    this.#wake?.()
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#wake?.()
    await this.#loop
    await Promise.allSettled([...this.#inFlight])
  }

  /** A lease long enough for one attempt and its bookkeeping. */
  get #leaseMs (): number {
    return this.#d.config.timeoutMs * 2 + 5000
  }

  async #run (): Promise<void> {
    while (!this.#closed) {
      this.#woken = false
      try {
        await this.#pass()
      } catch (err) {
        this.#d.logger.warn({ err: (err as Error).message }, 'webhook outbox not readable; trying again')
      }
      if (this.#woken || this.#closed) continue
      await new Promise<void>(resolve => {
        const timer = setTimeout(() => { this.#wake = null; resolve() }, this.#d.config.pollMs)
        this.#wake = () => { clearTimeout(timer); this.#wake = null; resolve() }
      })
    }
  }

  /** Claims the due rows there is room for, and starts their attempts. */
  async #pass (): Promise<void> {
    const room = this.#d.config.concurrency - this.#inFlight.size
    if (room <= 0) return
    const now = new Date()
    const due = await this.#d.prisma.$queryRaw<Array<{ seq: bigint }>>`
      SELECT d.seq FROM webhook_deliveries d
      WHERE d.state = 'pending' AND d.next_attempt_at <= ${now} AND (d.locked_until IS NULL OR d.locked_until < ${now})
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.job_id = d.job_id AND e.state = 'pending' AND e.seq < d.seq)
      ORDER BY d.next_attempt_at, d.seq LIMIT ${room}`
    for (const { seq } of due) {
      const claimed = await this.#d.prisma.$executeRaw`
        UPDATE webhook_deliveries SET locked_until = ${new Date(Date.now() + this.#leaseMs)}
        WHERE seq = ${seq} AND state = 'pending' AND (locked_until IS NULL OR locked_until < ${now})`
      if (claimed !== 1) continue // another gateway took it
      const attempt: Promise<void> = this.#attempt(seq)
        .catch(err => this.#d.logger.warn({ seq: String(seq), err: (err as Error).message }, 'webhook attempt not recorded; it is tried again when its lease ends'))
        .finally(() => { this.#inFlight.delete(attempt); this.wake() })
      this.#inFlight.add(attempt)
    }
  }

  async #attempt (seq: bigint): Promise<void> {
    const { prisma, config } = this.#d
    const row = await prisma.webhookDelivery.findUnique({ where: { seq } })
    if (row === null || row.state !== 'pending') return
    const log = this.#d.logger.child({ job_id: row.jobId, webhook_id: row.webhookId })
    const body = row.payload ?? await this.#fixPayload(row)
    const secrets = await this.#d.secrets.signing(row.owner)
    const timestamp = Math.floor(Date.now() / 1000)
    const headers = {
      'webhook-id': row.webhookId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, row.webhookId, timestamp, body)
    }
    const at = new Date()
    const started = performance.now()
    const result = await sendWebhook(row.url, headers, body, { timeoutMs: config.timeoutMs, allowPrivate: config.allowPrivate })
    const durationMs = Math.round(performance.now() - started)
    const attempt = row.attempts + 1
    const ok = result.status !== null && result.status >= 200 && result.status < 300
    const now = new Date()
    const givenUp = !ok && now.getTime() - row.createdAt.getTime() >= config.retryForMs
    const error = ok ? null : (result.error ?? `answered ${result.status}`)
    await prisma.$transaction([
      prisma.webhookAttempt.create({ data: { webhookId: row.webhookId, jobId: row.jobId, attempt, at, statusCode: result.status, error, durationMs } }),
      prisma.webhookDelivery.update({
        where: { seq },
        data: {
          attempts: attempt,
          lastStatus: result.status,
          lastError: error,
          lockedUntil: null,
          ...(ok
            ? { state: 'delivered', deliveredAt: now }
            : givenUp ? { state: 'failed' } : { nextAttemptAt: new Date(now.getTime() + retryDelayMs(attempt, config)) })
        }
      })
    ])
    if (ok) log.info({ event: row.event, attempt, status: result.status, duration_ms: durationMs }, 'webhook delivered')
    else log.warn({ event: row.event, attempt, status: result.status, error, given_up: givenUp }, givenUp ? 'webhook given up' : 'webhook not delivered; will retry')
  }

  /** The body is made at the first attempt (the job's record then) and kept: every attempt sends the same bytes. */
  async #fixPayload (row: { seq: bigint, jobId: string, event: string, createdAt: Date }): Promise<string> {
    const job = await this.#d.store.find(row.jobId)
    const payload = JSON.stringify({
      type: `job.${row.event}`,
      timestamp: row.createdAt.toISOString(),
      data: job !== null ? jobRecordView(job) : { job_id: row.jobId }
    })
    const { count } = await this.#d.prisma.webhookDelivery.updateMany({ where: { seq: row.seq, payload: null }, data: { payload } })
    if (count === 1) return payload
    return (await this.#d.prisma.webhookDelivery.findUnique({ where: { seq: row.seq }, select: { payload: true } }))?.payload ?? payload
  }
}
