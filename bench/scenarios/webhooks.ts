import { TestSystem } from '../../test/helpers/system.ts'
import { WebhookReceiver } from '../../test/helpers/webhook-receiver.ts'
import { freePort } from '../../test/helpers/ports.ts'
import { openEvents, readMessages } from '../../test/helpers/sse.ts'

export interface WebhooksResult {
  jobs: number
  /** jobs whose terminal event reached their SSE watcher as an event (not a terminal snapshot): the ones compared */
  compared: number
  /** all webhooks verified with the standardwebhooks package */
  verified: number
  /** the floor: the terminal event reaching an SSE watcher, from the worker's event time (finished_at) */
  sse: { p50: number, p99: number }
  /** the `completed` webhook received, from the same moment */
  webhook: { p50: number, p99: number }
  /** webhook received − the SSE watcher's terminal event, per job */
  afterSse: { p50: number, p99: number }
}

function quantiles (xs: number[]): { p50: number, p99: number } {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  return { p50: at(0.5), p99: at(0.99) }
}

/**
 * Jobs with a `completed` webhook to a receiver on this machine, 8 at a time, each watched over SSE
 * too: from a job's terminal event (its finished_at, the worker's event time) to (a) the SSE watcher
 * getting it — the floor, the path every watcher already has — and (b) the webhook arriving.
 */
export async function benchWebhooks (jobs: number): Promise<WebhooksResult> {
  const cleanups: Array<() => unknown> = []
  const receiver = new WebhookReceiver(await freePort())
  await receiver.start()
  cleanups.push(() => receiver.stop())
  try {
    const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
      name: 'bench-hooks',
      logLevel: 'warn',
      workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '0' },
      gatewayEnv: {
        SUBMIT_RATE_LIMIT_PER_MINUTE: '0', PROGRESS_DB_INTERVAL_MS: '1000', DB_POOL_SIZE: '16',
        WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_ALLOW_HTTP_HOSTS: '127.0.0.1'
      }
    })
    await sys.waitForWorkersConnected()
    const secrets = await (await fetch(`${sys.baseUrl}/api/webhooks/secrets`)).json() as { secrets: Array<{ secret: string }> }
    receiver.trust(secrets.secrets.map(s => s.secret))
    const sseAt = new Map<string, number>()
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < jobs) {
        const i = next++
        let res = await sys.submit({ prompt: `hook ${i}`, seed: i, webhook: receiver.url, webhook_events_filter: ['completed'] })
        // a busy machine: 503, or 500 QUEUE_UNAVAILABLE (a Redis push over its 1 s bound): nothing was written; again
        while (res.status === 503 || res.body?.code === 'QUEUE_UNAVAILABLE') {
          await new Promise(resolve => setTimeout(resolve, 200))
          res = await sys.submit({ prompt: `hook ${i}`, seed: i, webhook: receiver.url, webhook_events_filter: ['completed'] })
        }
        if (res.status !== 200) throw new Error(`submit ${i}: ${res.status} ${JSON.stringify(res.body)}`)
        const stream = await openEvents(sys.baseUrl, res.body.job_id)
        const { messages } = await readMessages(stream, m => ['finished', 'failed', 'cancelled'].includes(m.event) || (m.event === 'snapshot' && m.data.status === 'finished'))
        // a job that ended before its watch began (a terminal snapshot) says nothing about the event path
        if (messages.at(-1)?.event !== 'snapshot') sseAt.set(res.body.job_id, Date.now())
        stream.close()
      }
    }))
    await receiver.until(r => r.filter(h => h.type === 'job.completed').length >= jobs, 300_000)
    // DATETIMEs are stored in UTC by the adapter: read them as text, so no session time zone applies
    const [rows] = await sys.db.pool.query("SELECT id, DATE_FORMAT(finished_at, '%Y-%m-%dT%H:%i:%s.%fZ') AS finished FROM jobs") as any
    const finishedAt = new Map<string, number>(rows.map((r: any) => [r.id, Date.parse(r.finished)]))
    const sse: number[] = []
    const hook: number[] = []
    const after: number[] = []
    for (const h of receiver.received) {
      const end = finishedAt.get(h.jobId)
      const watched = sseAt.get(h.jobId)
      if (end === undefined || watched === undefined) continue
      sse.push(watched - end)
      hook.push(h.receivedAt - end)
      after.push(h.receivedAt - watched)
    }
    return { jobs, compared: after.length, verified: receiver.received.filter(h => h.verified).length, sse: quantiles(sse), webhook: quantiles(hook), afterSse: quantiles(after) }
  } finally {
    for (const fn of cleanups.reverse()) await fn()
  }
}
