// Soak (not part of `npm test`): N jobs through the whole system while workers are SIGKILLed at
// random; prints submitted / finished / lost / duplicated.
//   node --import tsx test/soak/soak.ts [N=1000] [killEveryMs=3000]
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from '../helpers/system.ts'

const N = Number(process.argv[2] ?? 1000)
const KILL_EVERY_MS = Number(process.argv[3] ?? 3000)
const WORKERS = 2

const cleanups: Array<() => unknown> = []
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'soak',
  workers: WORKERS,
  workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '10', LOCK_DURATION_MS: '3000', WORKER_CONCURRENCY: '2' },
  gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', SWEEP_INTERVAL_MS: '1000', SWEEP_GRACE_MS: '10000' }
})
try {
  await sys.waitForWorkersConnected()
  const started = Date.now()
  let kills = 0
  let stopKilling = false
  const killer = (async () => {
    while (!stopKilling) {
      await sleep(KILL_EVERY_MS * (0.5 + Math.random()))
      if (stopKilling) break
      const i = Math.floor(Math.random() * WORKERS)
      await sys.workers[i].kill('SIGKILL')
      kills++
      await sys.startWorker(i)
    }
  })()

  const submitted: string[] = []
  let refused = 0
  for (let i = 0; i < N; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, N - i) }, (_x, j) => sys.submit({ prompt: `soak ${i + j}`, seed: i + j })))
    for (const r of batch) {
      if (r.status === 200) submitted.push(r.body.job_id)
      else refused++
    }
  }
  const deadline = Date.now() + 10 * 60_000
  let live = Infinity
  while (live > 0 && Date.now() < deadline) {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'processing')") as any
    live = Number(rows[0].n)
    if (live > 0) await sleep(500)
  }
  stopKilling = true
  await killer

  const [rows] = await sys.db.pool.query('SELECT id, status FROM jobs') as any
  const status = new Map<string, string>(rows.map((r: any) => [r.id, r.status]))
  const finished = submitted.filter(id => status.get(id) === 'finished').length
  const lost = submitted.filter(id => status.get(id) !== 'finished').length
  const finishedLines = new Map<string, number>()
  for (const l of sys.gateway!.logs) if (l.msg === 'job finished') finishedLines.set(l.job_id, (finishedLines.get(l.job_id) ?? 0) + 1)
  const [multi] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM (SELECT job_id, idx FROM outputs GROUP BY job_id, idx HAVING COUNT(*) > 1) d') as any
  const duplicated = [...finishedLines.values()].filter(n => n > 1).length + Number(multi[0].n)
  const phantoms = rows.length - submitted.length
  const seconds = (Date.now() - started) / 1000
  console.log(`submitted ${submitted.length} / finished ${finished} / lost ${lost} / duplicated ${duplicated}` +
    ` (refused ${refused}, rows without a 200: ${phantoms}, worker kills ${kills}, ${seconds.toFixed(1)} s, ${(finished / seconds).toFixed(1)} jobs/s)`)
  process.exitCode = lost === 0 && duplicated === 0 && phantoms === 0 ? 0 : 1
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
