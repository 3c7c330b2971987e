import { Redis } from 'ioredis'
import type { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'
import { percentile } from '../load.ts'
import { waitUntilEnded } from './end-to-end.ts'
import { WakeUps } from './wake-ups.ts'

export interface EventsResult {
  jobs: number
  stepsPerJob: number
  events: number
  perSecond: number
  /** worker emission (`at` of a progress event) → the gateway's wake-up for it on the events channel, ms */
  lagP50: number
  lagP99: number
  lagMax: number
  /** the gateway's own comfy_jobs_event_ingest_lag_seconds{kind="progress"}: bucket bounds, s */
  prometheus: { count: number, p50AtMost: number, p99AtMost: number }
}

/**
 * Jobs with many 0 ms steps through one worker. A progress event is visible when the gateway has
 * applied it to the status hash and appended it to the job's stream; the wake-up it publishes comes
 * after both, so its arrival here is an upper bound on when GET /api/status shows the event.
 */
export async function benchEvents (sys: TestSystem, jobs: number, stepsPerJob: number): Promise<EventsResult> {
  const wake = await WakeUps.listen(sys.redisUrl)
  const http = new HttpClient(sys.baseUrl, 8)
  const redis = new Redis(sys.redisUrl)
  try {
    const ids = await Promise.all(Array.from({ length: jobs }, (_x, i) => http.post('/api/generate', { prompt: `events ${i}`, seed: 1 }).then(b => b.job_id as string)))
    await waitUntilEnded(sys, ids, 120_000)
    await new Promise(resolve => setTimeout(resolve, 200)) // the last wake-ups are published after the row is final
    const lags = await wake.progressLags(redis, ids)
    const seconds = (wake.last - wake.first) / 1000
    return {
      jobs,
      stepsPerJob,
      events: wake.durable,
      perSecond: wake.durable / seconds,
      lagP50: percentile(lags, 0.5),
      lagP99: percentile(lags, 0.99),
      lagMax: lags[lags.length - 1],
      prometheus: bucketQuantiles(await http.getText('/metrics'), 'comfy_jobs_event_ingest_lag_seconds', 'progress')
    }
  } finally {
    await http.close()
    wake.close()
    redis.disconnect()
  }
}

/** p50/p99 of a Prometheus histogram as "at most" the bucket bound where they fall. */
function bucketQuantiles (text: string, name: string, kind: string): EventsResult['prometheus'] {
  const buckets: Array<[number, number]> = []
  const re = new RegExp(`^${name}_bucket\\{(.*)\\} (\\d+)$`)
  for (const line of text.split('\n')) {
    const m = re.exec(line)
    if (!m || !m[1].includes(`kind="${kind}"`)) continue
    const le = /le="([^"]+)"/.exec(m[1])![1]
    buckets.push([le === '+Inf' ? Infinity : Number(le), Number(m[2])])
  }
  const count = buckets.find(([le]) => le === Infinity)?.[1] ?? 0
  const at = (q: number) => buckets.find(([, n]) => n >= q * count)?.[0] ?? NaN
  return { count, p50AtMost: at(0.5), p99AtMost: at(0.99) }
}
