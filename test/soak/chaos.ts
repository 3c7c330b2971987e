// Chaos (not part of `npm test`): N submits against 2 gateways × 3 workers on a system of its own
// while the database link goes down and then flaps, workers and gateways are killed with -9 and
// Redis restarts empty; then it checks every answer against the database and prints the figures.
//   npm run chaos -- [N=1000]   (CHAOS_CLIENTS=24 CHAOS_SUBMITS_PER_SECOND=20 CHAOS_WATCHERS=200 CHAOS_WORKER_KILLS=20 …;
//   CHAOS_LOG_DIR=dir keeps every process's log)
import { setTimeout as sleep } from 'node:timers/promises'
import { ChaosSystem } from './chaos-system.ts'
import { ChaosMonkey } from './chaos-faults.ts'
import { submitAll, watch, type WatchResult } from './chaos-traffic.ts'
import { measure } from './chaos-report.ts'

const N = Number(process.argv[2] ?? 1000)
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)
const CLIENTS = env('CHAOS_CLIENTS', 24)
/** about what 3 builtin workers get through, so the backlog stays small and the faults meet submits */
const PER_SECOND = env('CHAOS_SUBMITS_PER_SECOND', 20)
const WATCHERS = env('CHAOS_WATCHERS', 200)
const PLAN = {
  workerKills: env('CHAOS_WORKER_KILLS', 20),
  gatewayKills: env('CHAOS_GATEWAY_KILLS', 3),
  redisRestarts: env('CHAOS_REDIS_RESTARTS', 1),
  outageMs: env('CHAOS_OUTAGE_MS', 10_000),
  flapMs: env('CHAOS_FLAP_MS', 60_000)
}
/** the run gives up waiting for the jobs to end after this long without progress */
const STALL_MS = env('CHAOS_STALL_MS', 300_000)

const started = Date.now()
const say = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`)

const sys = new ChaosSystem({ gateways: 2, workers: 3 })
let exitCode = 1
try {
  await sys.start()
  say(`system up: 2 gateways, 3 workers, private Redis ${sys.redis.url}, database ${sys.db.loc.database} behind proxy :${sys.dbProxy.port}`)
  const countEnded = async () => {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt LIKE 'chaos %' AND status IN ('finished', 'failed', 'cancelled')") as any
    return Number(rows[0].n)
  }
  // the faults are spread over the submits (which span the run at PER_SECOND)
  let answered = 0
  const monkey = new ChaosMonkey(sys, PLAN)
  const faults = monkey.run(async () => answered / N, line => say(`fault: ${line}`))

  let watchDone = false
  const watchers: Array<Promise<WatchResult>> = []
  const every = Math.max(1, Math.floor(N / Math.max(WATCHERS, 1)))
  let accepted = 0
  const answers = await submitAll(sys, {
    n: N,
    clients: CLIENTS,
    perSecond: PER_SECOND,
    onAnswered: () => { answered++ },
    onAccepted: jobId => {
      if (WATCHERS > 0 && accepted++ % every === 0 && watchers.length < WATCHERS) watchers.push(watch(sys, jobId, () => watchDone))
    }
  })
  say(`submits answered: ${answers.filter(a => a.status === 200).length} × 200 of ${N}`)

  // until every committed job has ended (or nothing moves for STALL_MS)
  let last = -1
  let lastMove = Date.now()
  for (;;) {
    const [live] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt LIKE 'chaos %' AND status IN ('queued', 'processing')") as any
    const ended = await countEnded()
    if (ended !== last) { last = ended; lastMove = Date.now() }
    if (ended % 1000 < 20) say(`${ended} jobs ended`)
    if (Number(live[0].n) === 0 && monkey.pending === 0) break
    if (Date.now() - lastMove > STALL_MS) { say(`no progress for ${STALL_MS / 1000} s; measuring as it is`); break }
    await sleep(2000)
  }
  await faults
  say('faults done and every job ended; giving watchers 30 s to see their end')
  await sleep(30_000)
  watchDone = true
  const watched = await Promise.all(watchers)

  const figures = await measure(sys, answers, watched)
  const seconds = (Date.now() - started) / 1000
  console.log(`\nchaos: N=${N} submits from ${CLIENTS} clients, 2 gateways × 3 workers, ${watched.length} SSE watchers; ${seconds.toFixed(0)} s`)
  console.log(`faults: worker kill -9 × ${monkey.done.workerKills}, gateway kill -9 × ${monkey.done.gatewayKills}, Redis restart without persistence × ${monkey.done.redisRestarts}, ` +
    `database link down ${PLAN.outageMs / 1000} s × ${monkey.done.outages}, then flapping ${PLAN.flapMs / 1000} s (${monkey.done.flapCuts} cuts)`)
  for (const line of figures.lines) console.log(line)
  const pass = figures.lost === 0 && figures.phantom === 0 && figures.attemptMismatches === 0 && figures.redisDiffers === 0 && figures.untruthfulUnknowns === 0 && figures.watchersWithoutEnd === 0
  console.log(pass ? 'chaos: PASS' : 'chaos: FAIL')
  exitCode = pass ? 0 : 1
} catch (err) {
  console.error('chaos run failed:', err)
} finally {
  if (process.env.CHAOS_LOG_DIR) await sys.saveLogs(process.env.CHAOS_LOG_DIR)
  await sys.stop()
  process.exit(exitCode)
}
