import { Prisma } from '@comfy-jobs/db'
import { WEBHOOK_EVENT_NAMES } from '@comfy-jobs/contracts'

/** The events a job's webhook can be sent, and the default (all of them). */
export const WEBHOOK_EVENTS = WEBHOOK_EVENT_NAMES
export type WebhookEvent = typeof WEBHOOK_EVENTS[number]

/** What a submit asks for: where, and which events (the job owner's secrets sign them). */
export interface JobWebhook {
  url: string
  events: readonly WebhookEvent[]
}

/**
 * One outbox row for `event` of the job, when the job has a webhook that takes the event and is
 * `status` now: a statement run in the same transaction as the transition, so the event is in the
 * outbox exactly when the transition is in the database. `key` makes the webhook-id
 * (`msg_<job_id>_<key>`), so applying a transition again (a replay) adds nothing (INSERT IGNORE).
 */
export function outboxInsert (jobId: string, event: WebhookEvent, status: string, key: Prisma.Sql | string, now: Date): Prisma.Sql {
  return Prisma.sql`
    INSERT IGNORE INTO webhook_deliveries (webhook_id, job_id, event, url, owner, next_attempt_at, created_at)
    SELECT CONCAT('msg_', id, '_', ${key}), id, ${event}, webhook, owner, ${now}, ${now}
    FROM jobs WHERE id = ${jobId} AND status = ${status} AND webhook IS NOT NULL AND FIND_IN_SET(${event}, webhook_events) > 0`
}
