// The worker → gateway event stream survives a dropped stream and a killed gateway: every event is
// made durable in order, and the database ends with the right terminal state.
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

const SLOW = { BUILTIN_STEPS: '10', BUILTIN_STEP_MS: '150' }

async function assertCleanFinish (t: Test, sys: TestSystem, id: string) {
  const row = await sys.row(id)
  t.equal(row.status, 'finished', 'the database says finished')
  t.equal(row.progress, 100)
  t.ok(row.started_at, 'the processing transition was recorded (started_at)')
  t.ok(row.finished_at >= row.started_at, 'finished after it started')
  t.equal(row.attempts, 1, 'ran once')
  const [outputs] = await sys.db.pool.query('SELECT * FROM outputs WHERE job_id = ?', [id]) as any
  t.equal(outputs.length, 1, 'its output is recorded')
}

t.test('the gateway is SIGKILLed mid-job and a new one takes over', async t => {
  const sys = await TestSystem.start(t, { name: 'gwkill', workers: 1, workerEnv: SLOW })
  await sys.waitForWorkersConnected()
  const { body } = await sys.submit({ prompt: 'survive a gateway crash' })
  const id = body.job_id
  await sys.waitForStatus(id, s => s.status === 'processing' && s.progress > 0)
  await sys.gateway!.kill('SIGKILL')

  const ended = await sys.workers[0].waitForLog(l => l.job_id === id && l.msg === 'job ended; waiting for the gateway to ack')
  t.equal(ended.kind, 'FINISHED', 'the job finished on the worker while no gateway ran')
  t.equal((await sys.row(id)).status, 'processing', 'while no gateway runs, the database still says processing')
  t.equal((await sys.queueCounts()).active, 1, 'and the queue entry is still active (not completed before its events are durable)')

  await sys.startGateway()
  await sys.waitForStatus(id, s => s.status === 'finished', 120_000)
  await assertCleanFinish(t, sys, id)
  const attach = sys.workers[0].logs.filter(l => l.msg === 'event subscriber attached')
  t.ok(attach.length >= 2, 'the worker saw the stream attach again')
  t.ok(attach.at(-1)!.hello_acked_seq === 0, 'the new gateway knew nothing and got every unacked event replayed')
  const counts = await sys.queueCounts()
  t.equal(counts.active, 0, 'the queue entry completed once the terminal event was durable')
})

t.test('the stream is cut mid-job while both processes live', async t => {
  const sys = await TestSystem.start(t, { name: 'streamcut', workers: 1, workerEnv: SLOW, gateway: false })
  const proxy = new TcpProxy(sys.workerPorts[0])
  await proxy.start()
  t.teardown(() => proxy.stop())
  const direct = sys.workerPorts[0]
  sys.workerPorts[0] = proxy.port // the gateway reaches the worker through the proxy
  await sys.startGateway()
  sys.workerPorts[0] = direct
  await sleep(200)

  const { body } = await sys.submit({ prompt: 'survive a cut stream' })
  const id = body.job_id
  await sys.waitForStatus(id, s => s.status === 'processing' && s.progress > 0)
  proxy.cut(true)
  await sleep(1200) // the job runs on while the stream is down
  proxy.resume()
  const done = await sys.waitForStatus(id, s => s.status === 'finished', 120_000)
  t.equal(done.progress, 100)
  await assertCleanFinish(t, sys, id)
  const reopened = sys.gateway!.logs.filter(l => l.msg === 'worker event stream open')
  t.ok(reopened.length >= 2, 'the gateway reopened the stream')
  t.ok(reopened.at(-1)!.acked_seq > 0, `and said where it left off (acked_seq ${reopened.at(-1)!.acked_seq})`)
})
