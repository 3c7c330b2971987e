// Scale on one machine (not part of `npm test`): N jobs of a mix of workflows over 3 gateways × 4
// workers of different capabilities, found through the worker registry, while a worker is added,
// one is taken away (SIGTERM), one is killed with -9 and restarted and a gateway is killed with -9
// and restarted; before it, the same mix on 1 gateway × 1 worker for the baseline. Prints accepted,
// finished, lost, runs on an incapable worker, jobs/s of both and the CPU use that bounds them;
// exits 1 when a job is lost, ran on a worker that cannot run it, or a refused submit ran uncancelled.
// A submit refused with a 429/5xx or unanswered is sent again with its Idempotency-Key, as a client would.
//   npm run scale -- [N=2000]   (SCALE_BASELINE_JOBS=N/10, 0 for none; SCALE_CLIENTS=16 SCALE_BACKLOG=60
//   SCALE_STEP_MS=10 SCALE_STALL_MS=300000
//   SCALE_SUBMIT_TRIES=20, 1 to send each submit once; SCALE_LOG_DIR=dir keeps every process's log)
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { ChaosSystem, type ChaosShape } from './chaos-system.ts'
import { ChaosMonkey, type Step } from './chaos-faults.ts'
import { runJobs, waitUntilLinked } from './scale-run.ts'
import { cpuLines, measureScale, type ScaleFigures } from './scale-report.ts'
import { capabilityEnv, WORKER_WORKFLOWS, WORKFLOWS_IN_MIX } from './scale-plan.ts'

const N = Number(process.argv[2] ?? 2000)
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)
const BASELINE_N = env('SCALE_BASELINE_JOBS', Math.max(20, Math.round(N / 10)))
const CLIENTS = env('SCALE_CLIENTS', 16)
const BACKLOG = env('SCALE_BACKLOG', 60)
const STEP_MS = String(env('SCALE_STEP_MS', 10))
const STALL_MS = env('SCALE_STALL_MS', 300_000)
const TRIES = env('SCALE_SUBMIT_TRIES', 20)
const CORES = availableParallelism()

const started = Date.now()
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`)

/** One run on a system of its own: start it, run the jobs (with the events, if any), measure, stop it. */
async function run (label: string, shape: ChaosShape, n: number, events: (sys: ChaosSystem) => Events | null): Promise<{ figures: ScaleFigures, lines: string[], done: string }> {
  // a few connections each: the machine's MariaDB is shared
  const sys = new ChaosSystem({ ...shape, gatewayEnv: { DB_POOL_SIZE: '8' } })
  try {
    await sys.start()
    await waitUntilLinked(sys)
    say(`${label}: up, ${shape.gateways} gateway(s) × ${shape.workers} worker(s) through the registry, private Redis ${sys.redis.url}, database ${sys.db.loc.database}`)
    const planned = events(sys)
    const monkey = planned?.monkey ?? null
    const { answers, cpu } = await runJobs(sys, { n, clients: CLIENTS, backlog: BACKLOG, stallMs: STALL_MS, tries: TRIES, say: line => say(`${label}: ${line}`) }, monkey)
    await planned?.settled()
    const figures = await measureScale(sys, answers)
    const done = monkey === null
      ? 'none'
      : `worker added × ${added}, worker taken away (SIGTERM) × ${removed}, worker kill -9 and restart × ${monkey.done.workerKills}, gateway kill -9 and restart × ${monkey.done.gatewayKills}`
    return { figures, lines: [...figures.lines, ...cpuLines(cpu, CORES, figures.finished)], done }
  } finally {
    if (process.env.SCALE_LOG_DIR) await sys.saveLogs(join(process.env.SCALE_LOG_DIR, label))
    await sys.stop()
  }
}

interface Events {
  monkey: ChaosMonkey
  /** resolves once what the events started (a worker added) is up */
  settled: () => Promise<unknown>
}

let added = 0
let removed = 0
/** At a share of the jobs ended each: a worker added, one taken away; the monkey's worker and gateway kill -9 (restarted) between. */
function scaleEvents (sys: ChaosSystem): Events {
  const starting: Array<Promise<void>> = []
  const more: Step[] = [
    // it starts beside the other events, which do not wait for it to be ready
    { at: 0.15, name: 'a worker added (every workflow)', run: async () => { starting.push(sys.addWorker().then(() => { added++ })) } },
    {
      at: 0.3,
      name: `worker 3 (${WORKER_WORKFLOWS[3]?.join(', ')}) taken away with SIGTERM`,
      run: async () => { await sys.killWorker(3, 'SIGTERM'); removed++ }
    }
  ]
  // the monkey's own: a worker kill -9 at 45 %, a gateway kill -9 at 42 %, each started again
  const monkey = new ChaosMonkey(sys, { workerKills: 1, gatewayKills: 1, redisRestarts: 0, outageMs: 0, flapMs: 0 }, more)
  return { monkey, settled: () => Promise.all(starting) }
}

let exitCode = 1
try {
  const workerEnv = (i: number) => ({ BUILTIN_STEP_MS: STEP_MS, ...capabilityEnv(i) })
  const baseline = BASELINE_N > 0
    ? await run('1x1', { name: 'scale1x1', gateways: 1, workers: 1, registry: true, workerEnv: () => ({ BUILTIN_STEP_MS: STEP_MS }) }, BASELINE_N, () => null)
    : null
  const scaled = await run('3x4', { name: 'scale3x4', gateways: 3, workers: 4, registry: true, workerEnv }, N, scaleEvents)

  const seconds = (Date.now() - started) / 1000
  console.log(`\nscale: ${N} jobs (${WORKFLOWS_IN_MIX.join(', ')}: 2:1:1) over 3 gateways × 4 workers; ${seconds.toFixed(0)} s in all`)
  console.log(`workers: ${WORKER_WORKFLOWS.map((w, i) => `w${i} ${w === null ? 'every workflow' : w.join('+')}${i === 4 ? ' (added)' : ''}`).join('; ')}`)
  console.log(`events: ${scaled.done}`)
  for (const line of scaled.lines) console.log(`  ${line}`)
  if (baseline === null) {
    console.log('baseline: not run (SCALE_BASELINE_JOBS=0)')
  } else {
    console.log(`baseline: ${BASELINE_N} jobs of the same mix on 1 gateway × 1 worker (every workflow), no events`)
    for (const line of baseline.lines) console.log(`  ${line}`)
    const ratio = baseline.figures.jobsPerSecond > 0 ? scaled.figures.jobsPerSecond / baseline.figures.jobsPerSecond : 0
    console.log(`3 × 4 against 1 × 1: ${scaled.figures.jobsPerSecond.toFixed(2)} / ${baseline.figures.jobsPerSecond.toFixed(2)} jobs/s = ${ratio.toFixed(2)} ×`)
  }
  const pass = [scaled, baseline].every(r => r === null || (r.figures.lost.length === 0 && r.figures.incapable.length === 0 && r.figures.phantomRuns.length === 0 && r.figures.finished > 0))
  console.log(pass ? 'scale: PASS' : 'scale: FAIL')
  exitCode = pass ? 0 : 1
} catch (err) {
  console.error('scale run failed:', err)
} finally {
  process.exit(exitCode)
}
