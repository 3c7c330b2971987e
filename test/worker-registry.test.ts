// Workers announce themselves in Redis; gateways with no WORKER_ADDRESSES find them, link to them,
// share their streams (one gateway streams each worker, the others stand by and take over) and drop
// the ones that die. A worker that no gateway streams stops taking jobs until one finds it.
import t from 'tap'
import { Redis } from 'ioredis'
import { workerRegistryEntryKey, workerRegistryIndexKey } from '@comfy-jobs/contracts'
import { checkHealth } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { ServiceProcess } from './helpers/service-process.ts'
import { freePort } from './helpers/ports.ts'
import { loadConfig } from '../services/worker/src/config.ts'

const health = (baseUrl: string): Promise<any> => fetch(`${baseUrl}/api/health`).then(r => r.json())

async function until<T> (what: string, probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (pred(v)) return v
    if (Date.now() > deadline) throw new Error(`${what}: never; last ${JSON.stringify(v)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

t.test('WORKER_ADVERTISE_ADDRESS is validated at start', async t => {
  t.equal(loadConfig({}, { workerId: 'w' }).advertiseAddress, null, 'unset: the listen address (or host name) is announced')
  t.equal(loadConfig({ WORKER_ADVERTISE_ADDRESS: 'worker-3.internal:50051' }, { workerId: 'w' }).advertiseAddress, 'worker-3.internal:50051')
  t.throws(() => loadConfig({ WORKER_ADVERTISE_ADDRESS: 'worker-3' }, { workerId: 'w' }), /Invalid WORKER_ADVERTISE_ADDRESS="worker-3": expected host:port/)
  t.throws(() => loadConfig({ WORKER_ADVERTISE_ADDRESS: 'w:0' }, { workerId: 'w' }), /Invalid WORKER_ADVERTISE_ADDRESS/)
})

t.test('gateways find the workers in the registry, share their streams, drop dead ones', async t => {
  const sys = await TestSystem.start(t, {
    name: 'registry',
    workers: 0,
    gatewayEnv: { WORKER_ADDRESSES: '' },
    workerEnv: { LOCK_DURATION_MS: '3000', BUILTIN_STEPS: '6', BUILTIN_STEP_MS: '100' }
  })
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())
  const secondPort = await freePort()
  const second = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(secondPort), GATEWAY_GRPC_PORT: '0' }))
  t.teardown(() => second.kill())
  await second.waitForLog(l => l.msg === 'gateway ready')
  const gateways = [sys.baseUrl, `http://127.0.0.1:${secondPort}`]

  sys.workerPorts.push(await freePort(), await freePort())
  await sys.startWorker(0)
  await sys.startWorker(1, { WORKER_ADVERTISE_ADDRESS: `127.0.0.1:${sys.workerPorts[1]}` })
  const entry = JSON.parse(await redis.get(workerRegistryEntryKey(sys.queueName, 'registry-w1')) ?? 'null')
  t.match(entry, { worker_id: 'registry-w1', address: `127.0.0.1:${sys.workerPorts[1]}`, engine: 'builtin', epoch: /.+/ }, 'the worker announces its id, address, engine and epoch')
  t.ok(entry.runnable.some((r: any) => r.workflow === 'text_to_image' && r.models.length > 0), 'and which models each workflow takes')
  t.ok(await redis.pttl(workerRegistryEntryKey(sys.queueName, 'registry-w1')) > 0, 'the entry has a TTL')

  for (const url of gateways) {
    const h = await until('both workers linked', () => health(url), h => h.workers.list.length === 2 && h.workers.list.every((w: any) => w.connected || w.standby))
    t.same(h.workers.list.map((w: any) => w.discovered), [true, true], `${url}: both found in the registry`)
  }
  const streams = await Promise.all(gateways.map(health))
  for (const id of ['registry-w0', 'registry-w1']) {
    const holders = streams.filter(h => h.workers.list.some((w: any) => w.worker_id === id && w.connected))
    t.equal(holders.length, 1, `exactly one gateway streams ${id}`)
  }

  const ids: string[] = []
  for (let i = 0; i < 6; i++) ids.push((await sys.submit({ prompt: `found ${i}`, seed: i })).body.job_id)
  // one dies mid-job: its job runs again on the other, and the gateways drop it once its entry expires
  const running = await until('a job runs on w1', async () => sys.workers[1].logs.find(l => l.msg === 'job started'), l => l !== undefined)
  sys.workers[1].child.kill('SIGKILL')
  await sys.workers[1].exited
  for (const url of gateways) {
    await until('the dead worker dropped', () => health(url), h => h.workers.list.length === 1 && h.workers.list[0].worker_id === 'registry-w0', 30_000)
  }
  t.pass('both gateways dropped the dead worker once its registry entry expired')
  for (const id of ids) {
    const s = await sys.waitForStatus(id, s => s.status === 'finished' || s.status === 'failed', 120_000)
    t.equal(s.status, 'finished', `job ${id.slice(-6)} finished${id === running!.job_id ? ' (the one the dead worker held)' : ''}`)
  }

  // the gateway streaming w0 goes: the other takes its stream over
  const holder = (await Promise.all(gateways.map(health))).findIndex(h => h.workers.list[0]?.connected)
  t.ok(holder >= 0, 'one gateway streams w0')
  if (holder === 0) await sys.gateway!.kill()
  else await second.kill()
  const other = gateways[1 - holder]
  await until('the other gateway takes the stream over', () => health(other), h => h.workers.list[0]?.connected === true)
  const submitted = await fetch(`${other}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'after the takeover' }) })
  const after = (await submitted.json()).job_id
  const done = await until('the job after the takeover ends', () => fetch(`${other}/api/status/${after}`).then(r => r.json()), (s: any) => s.status === 'finished' || s.status === 'failed', 60_000)
  t.equal(done.status, 'finished', 'the gateway left records the worker\'s jobs')
})

t.test('a worker no gateway streams stops taking jobs until a gateway finds it', async t => {
  const sys = await TestSystem.start(t, { name: 'regalone', workers: 0, gateway: false })
  sys.workerPorts.push(await freePort())
  const worker = await sys.startWorker(0, { UNSTREAMED_GRACE_MS: '1000', ACK_TIMEOUT_MS: '1000' })
  await worker.waitForLog(l => l.msg === 'no gateway streams this worker\'s events; not taking jobs until one does', 20_000)
  t.equal(await checkHealth(`127.0.0.1:${sys.workerPorts[0]}`), 'NOT_SERVING', 'past the grace it takes no jobs and says so in its health')
  await sys.startGateway({ WORKER_ADDRESSES: '' })
  await sys.waitForWorkersConnected()
  await worker.waitForLog(l => l.msg === 'a gateway streams this worker\'s events again; taking jobs', 20_000)
  t.equal(await checkHealth(`127.0.0.1:${sys.workerPorts[0]}`), 'SERVING', 'found in the registry and streamed, it serves again')
  const job = (await sys.submit({ prompt: 'found at last' })).body.job_id
  t.equal((await sys.waitForStatus(job, s => s.status === 'finished', 60_000)).status, 'finished', 'and runs jobs')
  await worker.kill()
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())
  t.equal(await redis.exists(workerRegistryEntryKey(sys.queueName, 'regalone-w0')), 0, 'a worker that stops withdraws its entry')
  t.equal(await redis.sismember(workerRegistryIndexKey(sys.queueName), 'regalone-w0'), 0, 'and its index member')
})
