// Memory soak: 20 jobs/s through gateway + 1 worker (built-in engine, 0 ms steps) for a while;
// prints both services' RSS at the start, every minute, and at the end, with the change.
//   npm run bench:soak -- [seconds=600] [jobsPerSecond=20]
import { execFileSync } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from '../test/helpers/system.ts'
import type { ServiceProcess } from '../test/helpers/service-process.ts'
import { HttpClient } from './http-client.ts'
import { waitUntilEnded } from './scenarios/end-to-end.ts'

function positiveNumber (raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`)
  return n
}

const SECONDS = positiveNumber(process.argv[2], 'seconds', 600)
const RATE = positiveNumber(process.argv[3], 'jobsPerSecond', 20)

function rssMiB (service: ServiceProcess): number {
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(service.child.pid)]).toString().trim()) / 1024
}

const cleanups: Array<() => unknown> = []
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'bench_soak',
  logLevel: 'warn',
  // one job at a time the built-in engine (it writes a real PNG) does not keep up with 20/s here
  workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '0', WORKER_CONCURRENCY: '4' },
  gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', PROGRESS_DB_INTERVAL_MS: '1000' }
})
const http = new HttpClient(sys.baseUrl, 8)
try {
  await sys.waitForWorkersConnected()
  const rss = () => ({ gateway: rssMiB(sys.gateway!), worker: rssMiB(sys.workers[0]) })
  const line = (label: string, r: { gateway: number, worker: number }) => console.log(`${label.padEnd(8)} gateway ${r.gateway.toFixed(1)} MiB, worker ${r.worker.toFixed(1)} MiB`)
  const ids: string[] = []
  let refused = 0
  const submit = (i: number) => http.post('/api/generate', { prompt: `soak ${i}`, seed: 1 }).then(b => { ids.push(b.job_id) }, () => { refused++ })

  // 10 s of jobs first, so the start figure is after JIT and pools have settled
  for (let i = 0; i < RATE * 10; i++) { void submit(i); await sleep(1000 / RATE) }
  const start = rss()
  line('start', start)
  const began = Date.now()
  let n = 0
  let nextReport = began + 60_000
  while (Date.now() - began < SECONDS * 1000) {
    void submit(n++)
    const due = began + (n * 1000) / RATE
    if (due > Date.now()) await sleep(due - Date.now())
    if (Date.now() >= nextReport) { line(`${Math.round((Date.now() - began) / 1000)} s`, rss()); nextReport += 60_000 }
  }
  const loaded = rss()
  line('end', loaded)
  const pct = (a: number, b: number) => `${((b - a) / a * 100).toFixed(1)} %`
  console.log(`${ids.length} jobs accepted (${refused} refused) over ${SECONDS} s at ${RATE}/s; RSS change start → end of the load: gateway ${pct(start.gateway, loaded.gateway)}, worker ${pct(start.worker, loaded.worker)}`)
  // a backlog left by a worker slower than RATE is drained (and its memory seen) before stopping
  await sleep(500)
  const drained = await waitUntilEnded(sys, ids, 600_000).then(() => true, (err: Error) => { console.log(`not drained: ${err.message}`); return false })
  if (drained) line('drained', rss())
} finally {
  await http.close()
  for (const fn of cleanups.reverse()) await fn()
}
