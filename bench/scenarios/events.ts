import { Redis } from 'ioredis'
import { EVENTS_CHANNEL, eventsStreamKey } from '@comfy-jobs/contracts'
import type { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'
import { percentile } from '../load.ts'
import { waitUntilEnded } from './end-to-end.ts'

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
  const sub = new Redis(sys.redisUrl)
  const seen = new Map<string, number>()
  await sub.subscribe(EVENTS_CHANNEL)
  sub.on('message', (_channel: string, message: string) => { seen.set(message, Date.now()) })
  const http = new HttpClient(sys.baseUrl, 8)
  const redis = new Redis(sys.redisUrl)
  try {
    const ids = await Promise.all(Array.from({ length: jobs }, (_x, i) => http.post('/api/generate', { prompt: `events ${i}`, seed: 1 }).then(b => b.job_id as string)))
    await waitUntilEnded(sys, ids, 120_000)
    await new Promise(resolve => setTimeout(resolve, 200)) // the last wake-ups are published after the row is final
    const lags: number[] = []
    for (const id of ids) {
      for (const [, kv] of await redis.xrange(eventsStreamKey(id), '-', '+')) {
        const f: Record<string, string> = {}
        for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1]
        const arrived = seen.get(`${id} ${f.seq}`)
        if (f.type === 'progress' && arrived !== undefined) lags.push(arrived - Date.parse(f.at))
      }
    }
    const times = [...seen.values()]
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000
    lags.sort((a, b) => a - b)
    return {
      jobs,
      stepsPerJob,
      events: seen.size,
      perSecond: seen.size / seconds,
      lagP50: percentile(lags, 0.5),
      lagP99: percentile(lags, 0.99),
      lagMax: lags[lags.length - 1],
      prometheus: bucketQuantiles(await http.getText('/metrics'), 'comfy_jobs_event_ingest_lag_seconds', 'progress')
    }
  } finally {
    await http.close()
    sub.disconnect()
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
