import type { VariantSummary } from './load.ts'
import type { SubmitResult } from './scenarios/submit.ts'
import type { StatusResult } from './scenarios/status.ts'
import type { EventsResult } from './scenarios/events.ts'
import type { EndToEndResult } from './scenarios/end-to-end.ts'
import type { IngestResult } from './scenarios/ingest.ts'
import type { WebhooksResult } from './scenarios/webhooks.ts'

export interface BenchResults {
  at: string
  /** how the run was started, e.g. `BENCH_ONLY=status npm run bench` */
  command: string
  machine: { cpus: number, cpuModel: string, node: string, loadAverageBefore: number, loadAverageAfter: number }
  plan: { rounds: number, roundMs: number, runtime?: string, logLevel: string, floorPoolSize: number, gatewayDbPoolSize: number }
  submit?: SubmitResult[]
  transactionOverhead?: { transactional: number, plain: number, added: number }
  status?: StatusResult
  events?: EventsResult
  ingest?: IngestResult
  endToEnd?: EndToEndResult
  webhooks?: WebhooksResult
}

const n0 = (x: number) => Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–'
const ms = (x: number) => Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '–'
const ratio = (x: number) => Number.isFinite(x) ? `${x.toFixed(2)}×` : '–'
const verdict = (ok: boolean) => ok ? 'met' : '**not met**'

function row (label: string, v: VariantSummary, floor?: VariantSummary): string {
  const vs = floor ? `${ratio(v.perSecond / floor.perSecond)} | ${ratio(v.p99 / floor.p99)}` : '| '
  return `| ${label} | ${n0(v.perSecond)} | ${ms(v.p50)} | ${ms(v.p99)} | ${v.errors} | ${vs} |`
}

function submitSection (submit: SubmitResult[], o: BenchResults['transactionOverhead'], cpus: number): string[] {
  const lines = ['## Submit: POST /api/generate vs bare mysql2 BEGIN; INSERT; BullMQ add + HSET/EXPIRE; COMMIT', '']
  lines.push('No worker consumes the queue during this phase, so only the submit path uses the CPU.', '')
  lines.push('| scenario | ops/s | p50 ms | p99 ms | errors | ×floor ops/s | ×floor p99 |', '|---|---:|---:|---:|---:|---:|---:|')
  for (const s of submit) {
    lines.push(row(`system, ${s.concurrency} conn`, s.system, s.floor))
    lines.push(row(`floor, ${s.concurrency} conn`, s.floor))
  }
  lines.push('', `Gateway CPU per accepted submit (from /proc, warm-up included): ${submit.map(s => `${ms(s.gatewayCpuMsPerSubmit)} ms at ${s.concurrency} conn`).join(', ')}; ` +
    `one core's worth of gateway CPU therefore caps submit at about ${submit.map(s => n0(1000 / s.gatewayCpuMsPerSubmit)).join(' / ')} per second, before MariaDB, Redis and the load generator take their share of the ${cpus} cores.`)
  lines.push('', 'Group commit (comfy_jobs_submit_group_size over each concurrency\'s rounds, warm-up and floor rounds included): ' +
    submit.map(s => `${s.concurrency} conn: ${n0(s.groups.count)} groups, mean ${s.groups.meanSize.toFixed(1)} submits (${s.groups.buckets.filter(b => b.groups > 0).map(b => `≤${b.le}: ${n0(b.groups)}`).join(', ')})`).join('; ') + '.')
  if (o) lines.push('', `Seed metric (gateway submit steps, in-process, mean): transactional ${ms(o.transactional)} ms, plain ${ms(o.plain)} ms, added **${ms(o.added)} ms**.`)
  lines.push('')
  return lines
}

function statusSection (st: StatusResult): string[] {
  const lines = [`## Status: GET /api/status/:id at ${st.concurrency} connections`, '']
  lines.push('| scenario | ops/s | p50 ms | p99 ms | errors | ×HTTP floor ops/s | ×HTTP floor p99 |', '|---|---:|---:|---:|---:|---:|---:|')
  lines.push(row('Redis path', st.redisPath, st.httpFloor))
  lines.push(row('database path (hash deleted)', st.databasePath, st.httpFloor))
  lines.push(row('HTTP floor (constant Fastify route)', st.httpFloor))
  lines.push(row('bare HGETALL', st.hgetall))
  lines.push(row('bare SELECT by primary key', st.select))
  lines.push('', `Redis path vs bare HGETALL: ${ratio(st.redisPath.perSecond / st.hgetall.perSecond)} ops/s; database path vs bare SELECT: ${ratio(st.databasePath.perSecond / st.select.perSecond)} ops/s.`, '')
  return lines
}

function eventsSection (e: EventsResult): string[] {
  return ['## Event pipeline: 1 worker', '',
    `${e.jobs} jobs × ${e.stepsPerJob} steps of 0 ms: **${n0(e.perSecond)} events/s** (${e.events} events). Lag from the worker emitting a progress event to the gateway's wake-up for it (after the status hash and stream are written): p50 ${ms(e.lagP50)} ms, p99 ${ms(e.lagP99)} ms, max ${ms(e.lagMax)} ms.`,
    `The gateway's comfy_jobs_event_ingest_lag_seconds{kind="progress"} (${e.prometheus.count} events, the gateway process of this phase): p50 ≤ ${e.prometheus.p50AtMost * 1000} ms, p99 ≤ ${e.prometheus.p99AtMost * 1000} ms (bucket bounds).`, '']
}

function ingestSection (g: IngestResult): string[] {
  const lines = ['## Ingestion: backlog drain and paced lag', '']
  lines.push('Workers run their jobs to the end while no gateway ingests, then a fresh gateway drains the backlog; the time is from its first to its last wake-up on the events channel (each published after the event is in the status hash and stream; transitions are in the database first, progress at PROGRESS_DB_INTERVAL_MS=1000).', '')
  lines.push('| workers | events | seconds | events/s | gateway CPU ms/event | workers CPU ms/event |', '|---:|---:|---:|---:|---:|---:|')
  for (const d of g.drains) lines.push(`| ${d.workers} | ${n0(d.events)} | ${d.seconds.toFixed(2)} | **${n0(d.perSecond)}** | ${d.gatewayCpuMsPerEvent.toFixed(3)} | ${d.workersCpuMsPerEvent.toFixed(3)} |`)
  const p = g.paced
  lines.push('', `Paced: ${p.workers} workers × ${p.concurrency} jobs at a time, steps of ${p.stepMs} ms: ${n0(p.events)} events at **${n0(p.perSecond)} events/s** reached. ` +
    `Lag from emission to the wake-up (after the status hash is written, so GET /api/status shows it), over the ${n0(p.lagEvents)} progress events emitted after the last submit was answered: p50 ${ms(p.lagP50)} ms, p99 **${ms(p.lagP99)} ms**, max ${ms(p.lagMax)} ms.`, '')
  return lines
}

function endToEndSection (d: EndToEndResult): string[] {
  return ['## End to end', '',
    `${d.jobs} jobs submitted at 16 connections, ${d.workers} worker${d.workers > 1 ? 's' : ''} (one job at a time each, 2 steps of 0 ms, a 1024×1024 PNG per job): ${d.finished} finished in ${d.seconds.toFixed(2)} s (first created → last finished) = **${d.perSecond.toFixed(1)} jobs/s**; slowest queue wait (started_at − created_at) ${n0(d.slowestQueueWaitMs)} ms.`, '']
}

function targetsSection (r: BenchResults): string[] {
  const lines = ['## Issue #7 and #14 targets, this run', '', '| target | measured | |', '|---|---|---|']
  const at64 = r.submit?.find(s => s.concurrency === 64)
  if (at64) {
    const tp = at64.system.perSecond / at64.floor.perSecond
    const p99 = at64.system.p99 / at64.floor.p99
    lines.push(`| submit ops/s at 64 conn ≥ 1.0× floor | ${ratio(tp)} | ${verdict(tp >= 1)} |`)
    lines.push(`| submit p99 at 64 conn ≤ 2× floor p99 | ${ratio(p99)} | ${verdict(p99 <= 2)} |`)
    lines.push(`| gateway CPU per submit at 64 conn ≤ 0.4 ms | ${ms(at64.gatewayCpuMsPerSubmit)} ms | ${verdict(at64.gatewayCpuMsPerSubmit <= 0.4)} |`)
  }
  const o = r.transactionOverhead
  if (o) lines.push(`| transaction adds ≤ 2 ms | ${ms(o.added)} ms | ${verdict(o.added <= 2)} |`)
  const st = r.status
  if (st) {
    const rp = st.redisPath.perSecond / st.httpFloor.perSecond
    const dp = st.databasePath.perSecond / st.httpFloor.perSecond
    lines.push(`| status from Redis ≥ 0.7× HTTP floor | ${ratio(rp)} | ${verdict(rp >= 0.7)} |`)
    lines.push(`| status from database ≥ 0.4× HTTP floor | ${ratio(dp)} | ${verdict(dp >= 0.4)} |`)
  }
  const g = r.ingest
  const e = r.events
  if (g) {
    const slowest = Math.min(...g.drains.map(d => d.perSecond))
    lines.push(`| ingestion ≥ 5,000 events/s (backlog drain) | ${g.drains.map(d => `${n0(d.perSecond)} events/s with ${d.workers} worker${d.workers > 1 ? 's' : ''}`).join(', ')} | ${verdict(slowest >= 5000)} |`)
    lines.push(`| event lag p99 ≤ 25 ms at 1,000 events/s | ${ms(g.paced.lagP99)} ms at ${n0(g.paced.perSecond)} events/s | ${verdict(g.paced.lagP99 <= 25)}${g.paced.perSecond < 900 ? ' (rate below 1,000)' : ''} |`)
  } else if (e) {
    lines.push(`| event lag p99 ≤ 25 ms (at the rate reached: ${n0(e.perSecond)} events/s) | ${ms(e.lagP99)} ms | ${verdict(e.lagP99 <= 25)} |`)
    lines.push(`| ingestion ≥ 5,000 events/s | ${n0(e.perSecond)} events/s (1 worker; bound by the worker's emit rate as much as by ingestion) | ${verdict(e.perSecond >= 5000)} |`)
  }
  return lines
}

/** The Markdown table of a run, with the issue's targets marked met or not; phases not run are left out. */
export function markdown (r: BenchResults): string {
  const lines: string[] = []
  const p = r.plan
  lines.push('# Benchmark results', '')
  lines.push(`Run ${r.at} on ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}. Command: \`${r.command}\`.`)
  lines.push(`Each figure is the median of ${p.rounds} interleaved rounds of ${p.roundMs} ms (system and floor alternate, after an untimed warm-up).`)
  lines.push(`Services log at LOG_LEVEL=${p.logLevel}, so logging is not what is measured; the built-in engine runs 0 ms steps; the load generator, MariaDB and Redis share the same cores.`)
  lines.push(`1-minute load average ${r.machine.loadAverageBefore.toFixed(1)} before and ${r.machine.loadAverageAfter.toFixed(1)} after the run (other work on the machine shows here; absolute figures move with it, the same-run ratios much less).`)
  if (p.runtime) lines.push(`Gateway and worker run ${p.runtime === 'compiled' ? 'compiled (dist/, as `npm start` runs them)' : 'from the sources through tsx'}.`)
  lines.push(`Gateway DB_POOL_SIZE=${p.gatewayDbPoolSize}; the floor's mysql2 pool has ${p.floorPoolSize} connections.`, '')
  if (r.submit) lines.push(...submitSection(r.submit, r.transactionOverhead, r.machine.cpus))
  if (r.status) lines.push(...statusSection(r.status))
  if (r.events) lines.push(...eventsSection(r.events))
  if (r.ingest) lines.push(...ingestSection(r.ingest))
  if (r.endToEnd) lines.push(...endToEndSection(r.endToEnd))
  if (r.webhooks) lines.push(...webhooksSection(r.webhooks))
  lines.push(...targetsSection(r))
  return lines.join('\n') + '\n'
}

function webhooksSection (w: WebhooksResult): string[] {
  return [
    '## Webhooks: a job\'s terminal event → its `completed` webhook received', '',
    `${w.jobs} jobs, 8 at a time, each with a \`completed\` webhook to a receiver on this machine that verifies every signature ` +
    `(standardwebhooks: ${w.verified} of ${w.jobs} verified), and an SSE watcher. From the worker's terminal event (finished_at); ` +
    `${w.compared} jobs whose watcher saw the event itself are compared.`, '',
    '| from the terminal event to | p50 ms | p99 ms |', '|---|---:|---:|',
    `| the SSE watcher (floor) | ${ms(w.sse.p50)} | ${ms(w.sse.p99)} |`,
    `| the webhook received | ${ms(w.webhook.p50)} | ${ms(w.webhook.p99)} |`,
    `| webhook − SSE, per job | ${ms(w.afterSse.p50)} | ${ms(w.afterSse.p99)} |`,
    ''
  ]
}
