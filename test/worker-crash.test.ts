// I2 + I4: a worker SIGKILLed mid-job with 50 jobs in flight over two workers: every job ends
// finished exactly once in the database, and no job ever ran on two workers at the same time.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'

t.test('worker SIGKILL mid-job, 50 jobs, two workers', async t => {
  const sys = await TestSystem.start(t, {
    name: 'wkill',
    workers: 2,
    workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '40', LOCK_DURATION_MS: '3000' },
    gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' }
  })
  await sys.waitForWorkersConnected()
  const ids: string[] = []
  for (let i = 0; i < 50; i++) {
    const res = await sys.submit({ prompt: `crash test ${i}`, seed: i })
    t.equal(res.status, 200)
    ids.push(res.body.job_id)
  }
  const victim = sys.workers[0]
  await victim.waitForLog(l => l.msg === 'job started' && victim.logs.filter(x => x.msg === 'job started').length >= 3)
  await sleep(60) // mid-job
  const killedAt = Date.now()
  await victim.kill('SIGKILL')

  const deadline = Date.now() + 60_000
  for (;;) {
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('finished', 'failed', 'cancelled')") as any
    if (Number(rows[0].n) === 50) break
    if (Date.now() > deadline) throw new Error(`only ${rows[0].n} of 50 jobs ended`)
    await sleep(200)
  }
  const [byStatus] = await sys.db.pool.query('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status') as any
  t.same(byStatus.map((r: any) => [r.status, Number(r.n)]), [['finished', 50]], 'all 50 finished')
  const [outputs] = await sys.db.pool.query('SELECT job_id, COUNT(*) AS n FROM outputs GROUP BY job_id') as any
  t.equal(outputs.length, 50, 'each job has its output')
  t.ok(outputs.every((o: any) => Number(o.n) === 1), 'exactly one output each')

  // Execution intervals per job from both workers' logs; the victim's open ones end at the kill.
  const intervals = new Map<string, Array<{ worker: number, start: number, end: number }>>()
  sys.workers.forEach((w, i) => {
    const open = new Map<string, number>()
    for (const l of w.logs) {
      if (l.msg === 'job started') open.set(l.job_id, l.time)
      if (l.msg === 'job ended; waiting for the gateway to ack' && open.has(l.job_id)) {
        const list = intervals.get(l.job_id) ?? []
        list.push({ worker: i, start: open.get(l.job_id)!, end: l.time })
        intervals.set(l.job_id, list)
        open.delete(l.job_id)
      }
    }
    for (const [jobId, start] of open) {
      const list = intervals.get(jobId) ?? []
      list.push({ worker: i, start, end: i === 0 ? killedAt : Number.POSITIVE_INFINITY })
      intervals.set(jobId, list)
    }
  })
  const acked = new Set(victim.logs.filter(l => l.msg === 'terminal event acked').map(l => l.job_id))
  const interrupted = victim.logs.filter(l => l.msg === 'job started' && !acked.has(l.job_id))
  t.ok(interrupted.length >= 1, `the kill caught a job before its result was durable (${interrupted.length})`)
  let overlaps = 0
  for (const list of intervals.values()) {
    list.sort((a, b) => a.start - b.start)
    for (let i = 1; i < list.length; i++) if (list[i].start < list[i - 1].end) overlaps++
  }
  t.equal(overlaps, 0, 'no job ran twice at the same time')
  const rerun = ids.filter(id => (intervals.get(id) ?? []).length > 1)
  t.ok(rerun.length >= 1, `the interrupted job ran again on the other worker (${rerun.length} rerun)`)
})
