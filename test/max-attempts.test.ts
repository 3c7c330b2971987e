// MAX_ATTEMPTS holds when the queue lost a job and the sweeper enqueued it again: the runs before the
// loss count too, so the job is failed instead of run once more than allowed.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'
import type { ServiceProcess } from './helpers/service-process.ts'

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

/** A UUIDv7 whose embedded time is `msAgo` in the past. */
function oldUuidV7 (msAgo: number): string {
  const hex = (Date.now() - msAgo).toString(16).padStart(12, '0') + '7' + 'abc' + '8' + Math.random().toString(16).slice(2, 17).padEnd(15, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

t.test('MAX_ATTEMPTS counts the runs before the queue lost the job', async t => {
  const sys = await TestSystem.start(t, {
    name: 'maxruns',
    workers: 1,
    workerEnv: { BUILTIN_STEPS: '10', BUILTIN_STEP_MS: '150', LOCK_DURATION_MS: '2000', MAX_ATTEMPTS: '2' },
    gatewayEnv: { SWEEP_INTERVAL_MS: '300', SWEEP_GRACE_MS: '1000', MAX_ATTEMPTS: '2' }
  })
  await sys.waitForWorkersConnected()
  const everyWorker: ServiceProcess[] = [...sys.workers]
  // a job that ran once already, whose queue entry Redis has since lost
  const id = oldUuidV7(60_000)
  await sys.db.pool.query(
    "INSERT INTO jobs (id, status, workflow, model, prompt, params, attempts, last_run, created_at, updated_at) VALUES (?, 'processing', 'text_to_image', 'turbo_fp8', 'ran once before', ?, 1, 'an-earlier-worker:1', NOW(3) - INTERVAL 1 MINUTE, NOW(3) - INTERVAL 1 MINUTE)",
    [id, JSON.stringify({ aspect_ratio: '1:1', width: 256, height: 256, seed: 7, batch_size: 1 })])

  // the sweeper enqueues it again; it runs as run 2, and the worker dies under it
  await sys.workers[0].waitForLog(l => l.msg === 'job started' && l.job_id === id, 120_000)
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === id && l.msg === 'job lost by the queue; enqueued again'), 'the sweeper re-enqueued it')
  await until('run 2 is counted', async () => (await sys.row(id)).attempts === 2)
  await sleep(200)
  await sys.workers[0].kill('SIGKILL')
  everyWorker.push(await sys.startWorker(0))

  await until('the job ends', async () => ['failed', 'finished'].includes((await sys.row(id)).status))
  const row = await sys.row(id)
  t.equal(row.status, 'failed', 'it is failed, not run a third time')
  t.match(row.error, /MAX_ATTEMPTS/, `the reason says why: ${row.error}`)
  t.equal(row.attempts, 2, 'attempts: the run before the loss and the one after')
  t.equal(everyWorker.flatMap(w => w.logs).filter(l => l.msg === 'job started' && l.job_id === id).length, 1, 'the worker ran it once; the next hand-out was refused, not run')
  t.equal((await sys.status(id)).body.status, 'failed')
})
