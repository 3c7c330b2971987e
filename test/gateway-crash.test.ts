// I2: the gateway SIGKILLed while the worker streams events; after a new gateway starts, every
// terminal state reaches the database and no job is stuck.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'

t.test('gateway SIGKILL while 20 jobs stream', async t => {
  const sys = await TestSystem.start(t, {
    name: 'gwcrash',
    workers: 1,
    workerEnv: { WORKER_CONCURRENCY: '2', BUILTIN_STEPS: '5', BUILTIN_STEP_MS: '40' },
    gatewayEnv: { SWEEP_INTERVAL_MS: '500', SWEEP_GRACE_MS: '3000' }
  })
  await sys.waitForWorkersConnected()
  const ids: string[] = []
  for (let i = 0; i < 20; i++) ids.push((await sys.submit({ prompt: `stream ${i}` })).body.job_id)
  await sys.gateway!.waitForLog(l => l.msg === 'job finished' && sys.gateway!.logs.filter(x => x.msg === 'job finished').length >= 4)
  await sys.gateway!.kill('SIGKILL')
  await sleep(1000) // the worker keeps running and buffering while nobody ingests

  await sys.startGateway()
  const deadline = Date.now() + 60_000
  let rows: any[] = []
  for (;;) {
    [rows] = await sys.db.pool.query('SELECT id, status, started_at, finished_at, progress FROM jobs') as any
    if (rows.every(r => r.status === 'finished')) break
    if (Date.now() > deadline) break
    await sleep(200)
  }
  t.equal(rows.length, 20)
  t.same(rows.filter(r => r.status !== 'finished').map(r => `${r.id} ${r.status}`), [], 'every job reached finished in the database')
  t.ok(rows.every(r => r.started_at && r.finished_at && r.progress === 100), 'with started_at, finished_at and progress 100: no transition skipped')
  const [outputs] = await sys.db.pool.query('SELECT COUNT(DISTINCT job_id) AS n FROM outputs') as any
  t.equal(Number(outputs[0].n), 20, 'and every output stored')
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.active + counts.prioritized, 0, 'nothing is stuck in the queue')
  for (const id of ids.slice(0, 3)) {
    const s = await sys.status(id)
    t.equal(s.body.status, 'finished', `status ${id.slice(0, 8)} finished`)
  }
})
