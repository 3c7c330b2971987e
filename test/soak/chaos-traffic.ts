import { setTimeout as sleep } from 'node:timers/promises'
import { readSse } from '@comfy-jobs/cli/sse-reader'
import type { ChaosSystem } from './chaos-system.ts'

/** What one submit was told: an HTTP answer, or none (the gateway died under it). */
export interface Answer {
  prompt: string
  status: number | null
  code: string | null
  jobId: string | null
  /** with a retry plan: what the earlier tries were told (a code, or 'unanswered') */
  refusals?: string[]
}

export const promptOf = (i: number): string => `chaos ${i}`

function pick<T> (list: T[]): T | undefined {
  return list[Math.floor(Math.random() * list.length)]
}

export interface SubmitPlan {
  n: number
  /** submits in flight at most */
  clients: number
  /** submits started per second at most, so the faults meet submits all along the run */
  perSecond: number
  onAccepted: (jobId: string) => void
  onAnswered: () => void
  /** submit i's body (default: prompt `chaos i`, seed i) */
  bodyOf?: (i: number) => { prompt: string } & Record<string, unknown>
  /** resolves when submit i may go (e.g. once the backlog of unfinished jobs is small enough) */
  admit?: (i: number) => Promise<void>
  /**
   * Without it each submit is sent once, so every answer can be checked against the database. With
   * it each carries an Idempotency-Key and is sent again, as a client would, while it is refused with
   * a 429 or 5xx or unanswered, up to `tries` times.
   */
  retry?: { tries: number, pauseMs: number, keyOf: (i: number) => string }
}

const retryable = (a: Answer): boolean => a.status === null || a.status === 429 || a.status >= 500

/** Each submit once, or as the retry plan says. */
export async function submitAll (sys: ChaosSystem, plan: SubmitPlan): Promise<Answer[]> {
  const { n, clients, perSecond, onAccepted, onAnswered } = plan
  const bodyOf = plan.bodyOf ?? ((i: number) => ({ prompt: promptOf(i), seed: i }))
  const answers: Answer[] = new Array(n)
  const start = Date.now()
  let next = 0
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) {
      const i = next++
      const due = start + i * 1000 / perSecond
      if (due > Date.now()) await sleep(due - Date.now())
      await plan.admit?.(i)
      const request = bodyOf(i)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (plan.retry) headers['idempotency-key'] = plan.retry.keyOf(i)
      const refusals: string[] = []
      for (let tries = 1; ; tries++) {
        const answer = await submitOnce(sys, request, headers)
        if (!plan.retry || answer.status === 200 || !retryable(answer) || tries >= plan.retry.tries) {
          answers[i] = plan.retry ? { ...answer, refusals } : answer
          break
        }
        refusals.push(answer.code ?? (answer.status === null ? 'unanswered' : String(answer.status)))
        await sleep(plan.retry.pauseMs)
      }
      if (answers[i].status === 200) onAccepted(answers[i].jobId!)
      onAnswered()
    }
  }))
  return answers
}

async function submitOnce (sys: ChaosSystem, request: { prompt: string }, headers: Record<string, string>): Promise<Answer> {
  let gateway = pick(sys.liveGateways())
  while (gateway === undefined) { await sleep(100); gateway = pick(sys.liveGateways()) }
  try {
    const res = await fetch(`${sys.baseUrl(gateway)}/api/generate`, { method: 'POST', headers, body: JSON.stringify(request) })
    const body = await res.json() as { job_id?: string, code?: string }
    return { prompt: request.prompt, status: res.status, code: body.code ?? null, jobId: body.job_id ?? null }
  } catch {
    return { prompt: request.prompt, status: null, code: null, jobId: null }
  }
}

export type WatchEnd = 'terminal' | 'ended-without-terminal' | 'gave-up'

export interface WatchResult {
  jobId: string
  end: WatchEnd
  reconnects: number
  /** the terminal status it saw, if any */
  status: string | null
}

const TERMINAL = new Set(['finished', 'failed', 'cancelled'])

/**
 * Watches a job over SSE as the CLI does: from any live gateway, resuming with Last-Event-ID after
 * each drop, until the terminal event (or a snapshot that already says terminal). A 204 before it
 * means the server claims the history ended without the watcher having seen its end.
 */
export async function watch (sys: ChaosSystem, jobId: string, until: () => boolean): Promise<WatchResult> {
  let lastId: string | null = null
  let reconnects = -1
  while (!until()) {
    reconnects++
    const gateway = pick(sys.liveGateways())
    if (gateway === undefined) { await sleep(200); continue }
    const abort = new AbortController()
    const stop = setInterval(() => { if (until()) abort.abort() }, 1000)
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' }
      if (lastId !== null) headers['last-event-id'] = lastId
      const res = await fetch(`${sys.baseUrl(gateway)}/api/jobs/${jobId}/events`, { headers, signal: abort.signal })
      if (res.status === 204) return { jobId, end: 'ended-without-terminal', reconnects, status: null }
      if (res.status !== 200 || !res.body) { await res.body?.cancel(); await sleep(300); continue }
      for await (const item of readSse(res.body)) {
        if (item.type !== 'message') continue
        if (item.id !== null) lastId = item.id
        const data = JSON.parse(item.data) as { status?: string }
        const status = item.event === 'snapshot' ? data.status : item.event
        if (status !== undefined && TERMINAL.has(status)) return { jobId, end: 'terminal', reconnects, status }
      }
    } catch {
      // the gateway died, Redis went away, or time is up: resume elsewhere
    } finally {
      clearInterval(stop)
    }
    await sleep(300)
  }
  return { jobId, end: 'gave-up', reconnects: Math.max(reconnects, 0), status: null }
}
