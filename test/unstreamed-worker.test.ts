// A worker that no gateway streams (left out of every WORKER_ADDRESSES) must not hold jobs: it gives a
// job whose end nobody acked back to the queue, stops taking jobs after a grace, and says so in its
// gRPC health, in GetInfo and — through Redis — in the gateway's /api/health. Every job then finishes
// on the worker a gateway streams.
import t from 'tap'
import { freePort } from './helpers/ports.ts'
import { TestSystem } from './helpers/system.ts'
import { ServiceProcess } from './helpers/service-process.ts'
import { checkHealth, createWorkerClient, type WorkerInfo } from '@comfy-jobs/rpc'
import { loadConfig } from '../services/worker/src/config.ts'

t.test('ACK_TIMEOUT_MS is validated at start, and may not be shorter than UNSTREAMED_GRACE_MS', async t => {
  const defaults = { workerId: 'w' }
  t.match(loadConfig({}, defaults), { ackTimeoutMs: 60_000, unstreamedGraceMs: 10_000 }, 'defaults: 60 s for the ack, 10 s of grace')
  t.throws(() => loadConfig({ ACK_TIMEOUT_MS: 'soon' }, defaults), /Invalid ACK_TIMEOUT_MS="soon"/)
  t.throws(() => loadConfig({ UNSTREAMED_GRACE_MS: '-1' }, defaults), /Invalid UNSTREAMED_GRACE_MS="-1"/)
  t.throws(() => loadConfig({ ACK_TIMEOUT_MS: '5000', UNSTREAMED_GRACE_MS: '8000' }, defaults), /Invalid ACK_TIMEOUT_MS="5000": expected at least UNSTREAMED_GRACE_MS \(8000\)/,
    'a job given back before the worker stops taking jobs would only be taken again')
})

t.test('a worker in no gateway\'s list gives its jobs back, stops taking them and shows in health', async t => {
  // w0: streamed by the gateway, slow; its first job keeps it busy while the other worker starts
  const sys = await TestSystem.start(t, { name: 'unstreamed', workers: 1, gatewayEnv: { WORKER_DISCOVERY: 'false' }, workerEnv: { BUILTIN_STEPS: '16', BUILTIN_STEP_MS: '150' } })
  await sys.waitForWorkersConnected()
  const blocker = (await sys.submit({ prompt: 'keeps the streamed worker busy' })).body.job_id
  await sys.waitForStatus(blocker, s => s.status === 'processing')

  const ids: string[] = []
  for (let i = 0; i < 4; i++) ids.push((await sys.submit({ prompt: `job ${i}`, seed: i })).body.job_id)

  // w1: on the same queue, in no gateway's WORKER_ADDRESSES, fast; it starts with jobs waiting
  sys.workerPorts.push(await freePort())
  const lonely = await sys.startWorker(1, { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '20', WORKER_CONCURRENCY: '2', UNSTREAMED_GRACE_MS: '6000', ACK_TIMEOUT_MS: '6000' })
  const lonelyAddress = `127.0.0.1:${sys.workerPorts[1]}`

  // w1 takes jobs during its grace (the streamed worker is busy), runs them, and nobody acks their end
  const held = await lonely.waitForLog(l => l.msg === 'job ended; waiting for the gateway to ack', 20_000)
  t.ok(ids.includes(held.job_id), `the unstreamed worker took and ran job ${held.job_id}`)

  await lonely.waitForLog(l => l.msg === 'no gateway streams this worker\'s events; not taking jobs until one does', 20_000)
  t.equal(await checkHealth(lonelyAddress), 'NOT_SERVING', 'past the grace its gRPC health is NOT_SERVING')
  const client = createWorkerClient(lonelyAddress)
  t.teardown(() => client.close())
  const info = await new Promise<WorkerInfo>((resolve, reject) => client.GetInfo({}, { deadline: Date.now() + 5000 }, (err, res) => err ? reject(err) : resolve(res!)))
  t.same([info.ready, info.not_ready_reason], [false, 'no gateway streams its events, so what it ran could not be recorded'], 'GetInfo says why it takes no jobs')
  let health: any
  for (let i = 0; ; i++) {
    health = await (await fetch(`${sys.baseUrl}/api/health`)).json()
    if (health.workers.unstreamed.length > 0 || i > 100) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.same(health.workers.unstreamed.map((w: { worker_id: string }) => w.worker_id), ['unstreamed-w1'], 'the gateway\'s health lists it, though the gateway does not list it')
  t.equal(health.status, 'degraded', 'and is degraded')

  const given = await lonely.waitForLog(l => l.msg === 'no gateway acked the job\'s end and none streams this worker; the job goes back to the queue', 20_000)
  t.equal(given.job_id, held.job_id, 'the job it held goes back to the queue')

  const ended = await Promise.all([blocker, ...ids].map(id => sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 90_000)))
  t.same(ended.map(s => s.status), Array(5).fill('finished'), 'every job finished')
  const rows = await Promise.all([blocker, ...ids].map(id => sys.row(id)))
  t.same(rows.map(r => r.worker_id), Array(5).fill('unstreamed-w0'), 'each on the worker the gateway streams')
  t.match(await sys.queueCounts(), { failed: 0, waiting: 0, active: 0, delayed: 0 }, 'nothing failed or left in the queue')
  const took = lonely.logs.filter(l => l.msg === 'job started').map(l => l.job_id).sort()
  const gaveBack = lonely.logs.filter(l => l.msg === given.msg).map(l => l.job_id).sort()
  t.same(gaveBack, took, `every job the unstreamed worker took (${took.length}) it gave back`)

  // a gateway that lists it streams it: it takes jobs again and leaves the health lists
  const port = await freePort()
  const second = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(port), GATEWAY_GRPC_PORT: '0', WORKER_ADDRESSES: lonelyAddress, WORKER_DISCOVERY: 'false' }))
  t.teardown(() => second.kill('SIGKILL'))
  await second.waitForLog(l => l.msg === 'worker event stream open', 30_000)
  await lonely.waitForLog(l => l.msg === 'a gateway streams this worker\'s events again; taking jobs')
  t.equal(await checkHealth(lonelyAddress), 'SERVING', 'once a gateway streams it, SERVING again')
  health = await (await fetch(`${sys.baseUrl}/api/health`)).json()
  t.same(health.workers.unstreamed, [], 'and no longer listed as unstreamed')
})
