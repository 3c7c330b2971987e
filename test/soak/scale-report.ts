import type { ChaosSystem } from './chaos-system.ts'
import type { Answer } from './chaos-traffic.ts'
import type { CpuFigures } from './process-cpu.ts'
import { runsWorkflow } from './scale-plan.ts'

interface Row { id: string, workflow: string, status: string, worker_id: string | null, error: string | null, created_at: Date, finished_at: Date | null }

export interface ScaleFigures {
  accepted: number
  finished: number
  /** accepted (or committed under a dying gateway) and not finished */
  lost: string[]
  /** runs that began on a worker not started with the job's workflow */
  incapable: string[]
  /** runs of a job without a row (a refused submit whose queue entry got through) that no gateway cancelled */
  phantomRuns: string[]
  /** runs checked: every 'job started' line of every worker process that ran */
  runs: number
  /** finished jobs a second, from the first submit's commit to the last job's end */
  jobsPerSecond: number
  spanSeconds: number
  lines: string[]
}

function histogram (values: string[]): string {
  const counts = new Map<string, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none'
}

/**
 * The run's figures from the database and every worker process's log: which worker began each run
 * ('job started', written before the engine runs anything) against the workflows it was started
 * with, and the worker the database credits each finished job to.
 */
export async function measureScale (sys: ChaosSystem, answers: Answer[]): Promise<ScaleFigures> {
  const [rows] = await sys.db.pool.query('SELECT id, workflow, status, worker_id, error, created_at, finished_at FROM jobs') as unknown as [Row[]]
  const byId = new Map(rows.map(r => [r.id, r]))
  const ok = answers.filter(a => a.status === 200).map(a => a.jobId!)
  const unanswered = answers.filter(a => a.status === null)
  const refused = answers.filter(a => a.status !== null && a.status !== 200)
  const jobs = new Set([...ok, ...rows.map(r => r.id)])
  const lost = [...jobs].filter(id => byId.get(id)?.status !== 'finished')

  const workers = sys.history.filter(p => p.name === 'worker')
  const envOf = new Map(workers.map(p => [p.env.WORKER_ID, p.env]))
  const incapable: string[] = []
  const runsOn: string[] = []
  // a run of a job without a row: the submit was refused after its queue push timed out but got
  // through (I1); the gateway that hears it start must cancel it and drop what it makes
  const cancelledByGateway = new Set(sys.history.filter(p => p.name === 'gateway').flatMap(p =>
    p.logs.filter(l => l.msg === 'worker started a job that must not run; cancelling it').map(l => l.job_id as string)))
  const rowless: string[] = []
  for (const p of workers) {
    for (const l of p.logs) {
      if (l.msg !== 'job started') continue
      runsOn.push(p.env.WORKER_ID)
      const workflow = byId.get(l.job_id)?.workflow
      if (workflow === undefined) rowless.push(l.job_id)
      else if (!runsWorkflow(p.env, workflow)) incapable.push(`${l.job_id} (${workflow}) began on ${p.env.WORKER_ID}`)
    }
  }
  const phantomRuns = rowless.filter(id => !cancelledByGateway.has(id))
  for (const r of rows) {
    if (r.status !== 'finished') continue
    const env = r.worker_id === null ? undefined : envOf.get(r.worker_id)
    if (env === undefined || !runsWorkflow(env, r.workflow)) incapable.push(`${r.id} (${r.workflow}) finished on ${r.worker_id ?? 'no worker'}`)
  }

  const finished = rows.filter(r => r.status === 'finished')
  const first = Math.min(...rows.map(r => r.created_at.getTime()))
  const last = Math.max(...finished.map(r => r.finished_at!.getTime()))
  const spanSeconds = finished.length > 0 ? (last - first) / 1000 : 0
  const jobsPerSecond = spanSeconds > 0 ? finished.length / spanSeconds : 0
  const notFinished = histogram(lost.map(id => byId.get(id)?.status ?? 'no row'))
  const failedWhy = histogram(rows.filter(r => r.status === 'failed').map(r => (r.error ?? '').replace(/[0-9a-f-]{36}/g, '…').slice(0, 60)))
  return {
    accepted: ok.length,
    finished: finished.length,
    lost,
    incapable,
    phantomRuns,
    runs: runsOn.length,
    jobsPerSecond,
    spanSeconds,
    lines: [
      `refused then accepted on a later try (Idempotency-Key): ${answers.filter(a => a.status === 200 && (a.refusals?.length ?? 0) > 0).length} submits; ` +
        `refusals retried: ${histogram(answers.flatMap(a => a.refusals ?? []))}`,
      `accepted: ${ok.length} of ${answers.length} submits (refused in the end: ${refused.length}${refused.length ? ` ${histogram(refused.map(a => a.code ?? String(a.status)))}` : ''}; ` +
        `unanswered, the gateway died under the request: ${unanswered.length}; jobs committed without a 200: ${rows.length - ok.length})`,
      `jobs in the database: ${rows.length} (${histogram(rows.map(r => r.workflow))})`,
      `finished: ${finished.length}${failedWhy !== 'none' ? `; failed: ${failedWhy}` : ''}`,
      `lost (accepted or committed, not finished): ${lost.length}${lost.length ? ` (${notFinished}) ${lost.slice(0, 5).join(' ')}` : ''}`,
      `ran on an incapable worker: ${incapable.length} of ${runsOn.length - rowless.length} runs of jobs with a row${incapable.length ? `: ${incapable.slice(0, 5).join('; ')}` : ''}`,
      `runs of refused submits (no row; their queue push timed out but got through): ${rowless.length}, cancelled by a gateway: ${rowless.length - phantomRuns.length}` +
        `${phantomRuns.length ? `; not cancelled: ${phantomRuns.slice(0, 5).join(' ')}` : ''}`,
      `runs begun per worker: ${histogram(runsOn)}`,
      `jobs/s: ${jobsPerSecond.toFixed(2)} (${finished.length} finished in ${spanSeconds.toFixed(1)} s, first commit to last end)`
    ]
  }
}

/** What bounds the run: the CPU its processes used against the machine's cores, and the load. */
export function cpuLines (cpu: CpuFigures, cores: number, finished: number): string[] {
  const r = (role: string) => cpu.byRole[role] ?? 0
  const ours = r('gateway') + r('worker') + r('redis') + r('client')
  const perJob = (seconds: number) => finished > 0 ? `${(seconds * 1000 / finished).toFixed(0)} ms` : '-'
  return [
    `CPU seconds over ${cpu.seconds.toFixed(1)} s: gateways ${r('gateway').toFixed(1)}, workers ${r('worker').toFixed(1)}, Redis ${r('redis').toFixed(1)}, ` +
      `this command (the clients) ${r('client').toFixed(1)}; gateways+workers ${((r('gateway') + r('worker')) / cpu.seconds).toFixed(2)} cores, ` +
      `all of the run ${(ours / cpu.seconds).toFixed(2)} of ${cores} cores (MariaDB, shared, not counted)`,
    `machine: ${(cpu.machineBusy * 100).toFixed(0)} % of its ${cores} cores busy over the run (every process on it); ` +
      `load average (1 min) ${cpu.load.start.toFixed(1)} at the start, mean ${cpu.load.mean.toFixed(1)}, max ${cpu.load.max.toFixed(1)}, ${cpu.load.end.toFixed(1)} at the end`,
    `CPU per finished job: gateways ${perJob(r('gateway'))}, workers ${perJob(r('worker'))}, all of the run ${perJob(ours)} ` +
      `(the machine's share that was free for it bounds jobs/s: ${cores} cores ÷ this = ${finished > 0 && ours > 0 ? (cores * finished / ours).toFixed(1) : '-'} jobs/s with the machine to itself)`
  ]
}
