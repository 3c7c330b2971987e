// POST /api/cancel/:job_id (the original's shapes): a queued job never runs, a running job is stopped
// on its worker, terminal states are sticky.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

const cancel = async (sys: TestSystem, id: string) => {
  const res = await fetch(`${sys.baseUrl}/api/cancel/${id}`, { method: 'POST' })
  return { status: res.status, body: await res.json() as any }
}

t.test('cancel over REST', async t => {
  // 25 s a job: a cancel must reach the worker while the job runs, even on a machine at load 25 (at 2 s
  // a job, CI once saw the job finish before the cancel got there)
  const sys = await TestSystem.start(t, { name: 'cancel', workers: 1, workerEnv: { BUILTIN_STEPS: '250', BUILTIN_STEP_MS: '100' } })
  await sys.waitForWorkersConnected()

  t.test('a running job is stopped on its worker and ends cancelled, not failed', async t => {
    const { body } = await sys.submit({ prompt: 'stop me' })
    await sys.waitForStatus(body.job_id, s => s.status === 'processing' && s.progress > 0)
    const res = await cancel(sys, body.job_id)
    t.equal(res.status, 200)
    t.same({ success: res.body.success, message: res.body.message }, { success: true, message: 'Task cancelled' })
    t.equal(res.body.previous_status, 'processing')
    const ended = await sys.workers[0].waitForLog(l => l.job_id === body.job_id && l.msg === 'job ended; waiting for the gateway to ack')
    t.equal(ended.kind, 'CANCELLED', 'the worker stopped it')
    t.equal((await sys.status(body.job_id)).body.status, 'cancelled')
    t.equal((await sys.row(body.job_id)).status, 'cancelled')
  })

  t.test('a queued job is taken off the queue and never runs', async t => {
    const blocker = await sys.submit({ prompt: 'keeps the worker busy' })
    const queued = await sys.submit({ prompt: 'never runs' })
    await sys.waitForStatus(blocker.body.job_id, s => s.status === 'processing')
    const res = await cancel(sys, queued.body.job_id)
    t.equal(res.status, 200)
    t.equal(res.body.previous_status, 'queued')
    await cancel(sys, blocker.body.job_id)
    const next = await sys.submit({ prompt: 'runs after' })
    await sys.waitForStatus(next.body.job_id, s => s.status === 'finished', 120_000)
    t.notOk(sys.workers[0].logs.some(l => l.job_id === queued.body.job_id), 'the worker never saw it')
    t.equal((await sys.row(queued.body.job_id)).status, 'cancelled')
  })

  t.test('an ended job cannot be cancelled; an unknown one is a 404', async t => {
    const { body } = await sys.submit({ prompt: 'finish first' })
    const cancelledOne = await sys.submit({ prompt: 'cancel twice' })
    await cancel(sys, cancelledOne.body.job_id)
    const again = await cancel(sys, cancelledOne.body.job_id)
    t.equal(again.status, 400)
    t.same({ success: again.body.success, message: again.body.message }, { success: false, message: 'Cannot cancel job with status: cancelled' })
    await cancel(sys, 'fake-job-id').then(r => {
      t.equal(r.status, 404)
      t.match(r.body.message, /任務不存在/)
    })
    await sys.waitForStatus(body.job_id, s => s.status === 'finished', 120_000)
    const late = await cancel(sys, body.job_id)
    t.equal(late.status, 400)
    t.equal(late.body.message, 'Cannot cancel job with status: finished')
  })
})

t.test('a late finished never overwrites cancelled', async t => {
  const sys = await TestSystem.start(t, { name: 'sticky', workers: 1, gateway: false, workerEnv: { BUILTIN_STEPS: '10', BUILTIN_STEP_MS: '150' } })
  const proxy = new TcpProxy(sys.workerPorts[0])
  await proxy.start()
  t.teardown(() => proxy.stop())
  const direct = sys.workerPorts[0]
  sys.workerPorts[0] = proxy.port
  await sys.startGateway()
  sys.workerPorts[0] = direct
  await sys.waitForWorkersConnected()

  const { body } = await sys.submit({ prompt: 'finishes anyway' })
  await sys.waitForStatus(body.job_id, s => s.status === 'processing' && s.progress > 0)
  proxy.cut(true) // the gateway can neither hear from nor talk to the worker
  const res = await cancel(sys, body.job_id)
  t.equal(res.status, 200, 'cancel answers although the worker is out of reach')
  t.equal((await sys.status(body.job_id)).body.status, 'cancelled')
  await sys.workers[0].waitForLog(l => l.job_id === body.job_id && l.msg === 'job ended; waiting for the gateway to ack', 120_000)
  proxy.resume()
  const acked = await sys.workers[0].waitForLog(l => l.job_id === body.job_id && l.msg === 'terminal event acked', 120_000)
  t.ok(acked, 'the worker\'s own terminal event reached the gateway later')
  const ended = sys.workers[0].logs.find(l => l.job_id === body.job_id && l.msg === 'job ended; waiting for the gateway to ack')
  t.equal(ended?.kind, 'FINISHED', 'it was a finished event')
  await sleep(200)
  t.equal((await sys.row(body.job_id)).status, 'cancelled', 'the database still says cancelled')
  t.equal((await sys.status(body.job_id)).body.status, 'cancelled', 'and so does the status')
  const [outputs] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM outputs WHERE job_id = ?', [body.job_id]) as any
  t.equal(Number(outputs[0].n), 0, 'no output recorded for a cancelled job')
})

t.test('a cancelled job keeps the progress it reached: the database says what the status hash says', async t => {
  // The row takes progress at most every PROGRESS_DB_INTERVAL_MS; here once, at the first event.
  const sys = await TestSystem.start(t, { name: 'cancel_progress', workerEnv: { BUILTIN_STEPS: '200', BUILTIN_STEP_MS: '100' }, gatewayEnv: { PROGRESS_DB_INTERVAL_MS: '600000' } })
  await sys.waitForWorkersConnected()
  const { body } = await sys.submit({ prompt: 'half done' })
  const midway = await sys.waitForStatus(body.job_id, s => s.status === 'processing' && s.progress >= 25)
  t.ok((await sys.row(body.job_id)).progress < midway.progress, 'the row lags behind before the cancel')
  t.equal((await cancel(sys, body.job_id)).status, 200)
  const hash = (await sys.status(body.job_id)).body
  t.equal(hash.status, 'cancelled')
  t.ok(hash.progress >= midway.progress, `the hash kept its progress (${hash.progress})`)
  const row = await sys.row(body.job_id)
  t.same({ status: row.status, progress: row.progress, step: row.step }, { status: 'cancelled', progress: hash.progress, step: hash.step }, 'the row says the same')
})
