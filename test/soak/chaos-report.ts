import { Redis } from 'ioredis'
import type { ChaosSystem } from './chaos-system.ts'
import type { Answer, WatchResult } from './chaos-traffic.ts'

interface Row { id: string, prompt: string, status: string, attempts: number, error: string | null }

export interface ChaosFigures {
  lines: string[]
  /** what must be zero for the run to pass */
  lost: number
  phantom: number
  attemptMismatches: number
  redisDiffers: number
  untruthfulUnknowns: number
  watchersWithoutEnd: number
}

const TERMINAL = new Set(['finished', 'failed', 'cancelled'])

function histogram<K extends string | number> (values: K[]): string {
  const counts = new Map<K, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none'
}

/** Every figure the chaos run prints, from the database, Redis, the processes' logs and the answers. */
export async function measure (sys: ChaosSystem, answers: Answer[], watchers: WatchResult[]): Promise<ChaosFigures> {
  const [rowList] = await sys.db.pool.query("SELECT id, prompt, status, attempts, error FROM jobs WHERE prompt LIKE 'chaos %'") as unknown as [Row[]]
  const rowByPrompt = new Map(rowList.map(r => [r.prompt, r]))
  const rowById = new Map(rowList.map(r => [r.id, r]))

  const ok = answers.filter(a => a.status === 200)
  const unknown = answers.filter(a => a.code === 'OUTCOME_UNKNOWN')
  const unanswered = answers.filter(a => a.status === null)
  const refused = answers.filter(a => a.status !== null && a.status !== 200 && a.code !== 'OUTCOME_UNKNOWN')
  const unknownCommitted = unknown.filter(a => rowById.has(a.jobId!))
  const accepted = [...ok.map(a => a.jobId!), ...unknownCommitted.map(a => a.jobId!)]

  // OUTCOME_UNKNOWN: the status route must now say what the database says
  const gateway = sys.liveGateways()[0]
  let untruthful = 0
  for (const a of unknown) {
    const res = await fetch(`${sys.baseUrl(gateway)}/api/status/${a.jobId}`)
    await res.body?.cancel()
    if ((res.status === 200) !== rowById.has(a.jobId!)) untruthful++
  }

  const lost = accepted.filter(id => !TERMINAL.has(rowById.get(id)?.status ?? 'missing'))
  const phantom = refused.filter(a => rowByPrompt.has(a.prompt))
  const unansweredRows = unanswered.filter(a => rowByPrompt.has(a.prompt))

  // runs: the 'job started' lines of every worker process that ever ran; a run whose STARTED event
  // no gateway ever ingested left no trace but that line (its worker died with the event)
  const ingested = new Set<string>()
  for (const p of sys.history) {
    if (p.name === 'gateway') for (const l of p.logs) if (l.msg === 'job started on worker' || l.msg === 'worker started a job that must not run; cancelling it') ingested.add(`${l.epoch}:${l.seq}`)
  }
  const runs = new Map<string, number>()
  const traceless = new Map<string, number>()
  for (const p of sys.history) {
    if (p.name !== 'worker') continue
    for (const l of p.logs) {
      if (l.msg !== 'job started') continue
      runs.set(l.job_id, (runs.get(l.job_id) ?? 0) + 1)
      if (!ingested.has(`${l.epoch}:${l.seq}`)) traceless.set(l.job_id, (traceless.get(l.job_id) ?? 0) + 1)
    }
  }
  const mismatched = rowList.filter(r => r.attempts !== (runs.get(r.id) ?? 0))
  // a shortfall is explained when it is no more than the runs that reached no gateway
  const unexplained = mismatched.filter(r => r.attempts > (runs.get(r.id) ?? 0) || (runs.get(r.id) ?? 0) - r.attempts > (traceless.get(r.id) ?? 0))

  // Redis = database: the status hash of every job, where Redis still has one
  const redis = new Redis(sys.redis.url)
  let agree = 0
  let noHash = 0
  const differ: string[] = []
  try {
    for (let i = 0; i < rowList.length; i += 500) {
      const chunk = rowList.slice(i, i + 500)
      const pipeline = redis.pipeline()
      for (const r of chunk) pipeline.hget(`job:status:${r.id}`, 'status')
      const results = await pipeline.exec()
      chunk.forEach((r, j) => {
        const status = results![j][1] as string | null
        if (status === null) noHash++
        else if (status === r.status) agree++
        else differ.push(`${r.id} redis=${status} db=${r.status}`)
      })
    }
  } finally {
    redis.disconnect()
  }

  const byEnd = (end: WatchResult['end']) => watchers.filter(w => w.end === end).length
  const statuses = histogram(rowList.map(r => r.status))
  const failedWhy = histogram(rowList.filter(r => r.status === 'failed').map(r => (r.error ?? '').replace(/[0-9a-f-]{36}/g, '…').slice(0, 60)))
  const lines = [
    `accepted: ${accepted.length} (200: ${ok.length}; OUTCOME_UNKNOWN that committed: ${unknownCommitted.length})`,
    `refused: ${refused.length} (${histogram(refused.map(a => a.code ?? String(a.status)))})`,
    `OUTCOME_UNKNOWN: ${unknown.length} (${unknownCommitted.length} committed, ${unknown.length - unknownCommitted.length} not; the status route told the truth for ${unknown.length - untruthful} of ${unknown.length})`,
    `unanswered (the gateway died under the request): ${unanswered.length} (with a row: ${unansweredRows.length})`,
    `rows: ${rowList.length} (${statuses})`,
    `finished: ${rowList.filter(r => r.status === 'finished').length}; failed: ${rowList.filter(r => r.status === 'failed').length}${failedWhy !== 'none' ? ` (${failedWhy})` : ''}`,
    `lost (accepted, not ended): ${lost.length}${lost.length ? ` ${lost.slice(0, 5).join(' ')}` : ''}`,
    `phantom (rows for refused submits): ${phantom.length}${phantom.length ? ` ${phantom.slice(0, 5).map(a => `${a.prompt}→${a.code}`).join(' ')}` : ''}`,
    `runs per job: ${histogram(rowList.map(r => runs.get(r.id) ?? 0)).replace(/(\d+): /g, '$1 run(s) × ')}`,
    `attempts = runs: ${rowList.length - mismatched.length} of ${rowList.length}${mismatched.length ? ` (differ: ${mismatched.slice(0, 5).map(r => `${r.id} attempts ${r.attempts} runs ${runs.get(r.id) ?? 0}, of which no gateway ever heard ${traceless.get(r.id) ?? 0}`).join('; ')}; not explained by such runs: ${unexplained.length})` : ''}`,
    `Redis = database: ${agree} agree, ${differ.length} differ, ${noHash} without a hash (lost with Redis; answered from the database)${differ.length ? `: ${differ.slice(0, 5).join('; ')}` : ''}`,
    `watchers: ${byEnd('terminal')} of ${watchers.length} received their terminal event; ${byEnd('ended-without-terminal')} were told the stream had ended (204) without it; ${byEnd('gave-up')} still waiting at the end (reconnects: ${watchers.reduce((n, w) => n + w.reconnects, 0)})` +
      (watchers.some(w => w.end !== 'terminal') ? `: ${watchers.filter(w => w.end !== 'terminal').slice(0, 5).map(w => `${w.jobId} (${w.end}, job ${rowById.get(w.jobId)?.status})`).join('; ')}` : '')
  ]
  return {
    lines,
    lost: lost.length,
    phantom: phantom.length,
    attemptMismatches: mismatched.length,
    redisDiffers: differ.length,
    untruthfulUnknowns: untruthful,
    watchersWithoutEnd: watchers.length - byEnd('terminal')
  }
}
