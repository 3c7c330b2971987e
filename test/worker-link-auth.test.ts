// The worker link takes gateways only: every call on the worker service presents WORKER_LINK_TOKEN
// (or a client certificate, with WORKER_TLS_*). A foreign client gets UNAUTHENTICATED, nothing it
// sends counts as an ack, and the worker's jobs still finish through the gateway.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { createWorkerClient, type WorkerLinkSecurity, type WorkerServiceClient } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { loadConfig as loadWorkerConfig } from '../services/worker/src/config.ts'
import { loadConfig as loadGatewayConfig } from '../services/gateway/src/config.ts'

const TOKEN = 'link-token-for-the-test-0123456789'

function getInfo (client: WorkerServiceClient): Promise<grpc.ServiceError | null> {
  return new Promise(resolve => client.GetInfo({}, { deadline: Date.now() + 20_000 }, err => resolve(err)))
}

/** Opens StreamEvents as a gateway would (a Hello acking everything), and says how it ended. */
function foreignSubscribe (client: WorkerServiceClient, ackedSeq: number): Promise<{ code: number, events: number }> {
  return new Promise(resolve => {
    const call = client.StreamEvents({ deadline: Date.now() + 20_000 })
    let events = 0
    call.on('data', () => { events++ })
    call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, events }))
    call.on('end', () => resolve({ code: grpc.status.OK, events }))
    call.write({ hello: { gateway_id: 'intruder', epoch: '', acked_seq: ackedSeq } })
    call.write({ ack: { epoch: '', seq: ackedSeq } })
  })
}

function inputFeed (client: WorkerServiceClient): Promise<number> {
  return new Promise(resolve => {
    const call = client.InputFeed({ deadline: Date.now() + 20_000 })
    call.on('data', () => {})
    call.on('error', (err: grpc.ServiceError) => resolve(err.code))
    call.on('end', () => resolve(grpc.status.OK))
    call.write({ hello: { gateway_id: 'intruder' } })
  })
}

t.test('a worker beyond loopback needs a credential; the token is checked at start', async t => {
  const defaults = { workerId: 'w' }
  t.same(loadWorkerConfig({}, defaults).link, { token: null, tls: null }, 'loopback (the default host): open, as the quick start needs')
  t.throws(() => loadWorkerConfig({ WORKER_GRPC_HOST: '0.0.0.0' }, defaults),
    /WORKER_LINK_TOKEN is not set while WORKER_GRPC_HOST=0\.0\.0\.0 is not a loopback address.*WORKER_LINK_INSECURE=true/s,
    'listening on every address without a credential refuses to start, naming the variable')
  t.same(loadWorkerConfig({ WORKER_GRPC_HOST: '0.0.0.0', WORKER_LINK_TOKEN: TOKEN }, defaults).link, { token: TOKEN, tls: null })
  t.same(loadWorkerConfig({ WORKER_GRPC_HOST: '0.0.0.0', WORKER_LINK_INSECURE: 'true' }, defaults).link, { token: null, tls: null }, 'or an explicit WORKER_LINK_INSECURE=true')
  t.throws(() => loadWorkerConfig({ WORKER_LINK_TOKEN: 'short' }, defaults), /WORKER_LINK_TOKEN: expected at least 16 characters/)
  let message = ''
  try { loadWorkerConfig({ WORKER_LINK_TOKEN: 'short' }, defaults) } catch (err) { message = (err as Error).message }
  t.notMatch(message, /short/, 'the message never shows the token')
  t.throws(() => loadWorkerConfig({ WORKER_TLS_CERT: '/x.pem' }, defaults), /WORKER_TLS_KEY/, 'TLS files come together')
  t.throws(() => loadGatewayConfig({ WORKER_TLS_CERT: '/x.pem', WORKER_TLS_KEY: '/y.pem' }), /WORKER_TLS_CA/)
  t.same(loadGatewayConfig({ WORKER_LINK_TOKEN: TOKEN }).workerLink, { token: TOKEN, tls: null }, 'the gateway sends the same token')
})

t.test('with WORKER_LINK_TOKEN, a foreign client gets UNAUTHENTICATED and the jobs still finish', async t => {
  const sys = await TestSystem.start(t, {
    name: 'linktoken',
    workers: 1,
    workerEnv: { WORKER_LINK_TOKEN: TOKEN, BUILTIN_STEPS: '6', BUILTIN_STEP_MS: '100' },
    gatewayEnv: { WORKER_LINK_TOKEN: TOKEN }
  })
  await sys.waitForWorkersConnected()
  const address = `127.0.0.1:${sys.workerPorts[0]}`
  const anonymous = createWorkerClient(address)
  const wrong = createWorkerClient(address, { token: 'not-the-token-but-just-as-long-!!', tls: null })
  const right = createWorkerClient(address, { token: TOKEN, tls: null })
  t.teardown(() => { anonymous.close(); wrong.close(); right.close() })

  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await sys.submit({ prompt: `linked job ${i}`, seed: i })).body.job_id)
  await sys.waitForStatus(ids[0], s => s.status === 'processing')

  t.equal((await getInfo(anonymous))?.code, grpc.status.UNAUTHENTICATED, 'GetInfo without a token')
  t.equal((await getInfo(wrong))?.code, grpc.status.UNAUTHENTICATED, 'GetInfo with a wrong token')
  t.equal(await getInfo(right), null, 'GetInfo with the token')
  for (const [who, client] of [['no token', anonymous], ['a wrong token', wrong]] as const) {
    t.same(await foreignSubscribe(client, 1_000_000), { code: grpc.status.UNAUTHENTICATED, events: 0 }, `StreamEvents (Hello with acked_seq, Ack) with ${who}: refused, no event sent`)
    t.equal(await inputFeed(client), grpc.status.UNAUTHENTICATED, `InputFeed with ${who}`)
    const cancel = await new Promise<grpc.ServiceError | null>(resolve => client.CancelJob({ job_id: ids[0], reason: 'intruder' }, {}, err => resolve(err)))
    t.equal(cancel?.code, grpc.status.UNAUTHENTICATED, `CancelJob with ${who}`)
    const output = await new Promise<number>(resolve => {
      const call = client.GetOutput({ job_id: ids[0], name: 'x.png' })
      call.on('data', () => {})
      call.on('error', (err: grpc.ServiceError) => resolve(err.code))
      call.on('end', () => resolve(grpc.status.OK))
    })
    t.equal(output, grpc.status.UNAUTHENTICATED, `GetOutput with ${who}`)
  }
  t.ok(sys.workers[0].logs.some(l => l.msg === 'call refused: no valid worker link token' && l.rpc === 'StreamEvents'), 'the worker logs each refusal')

  const ended = await Promise.all(ids.map(id => sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 90_000)))
  t.same(ended.map(s => s.status), ['finished', 'finished', 'finished'], 'every job finished, none cancelled by the intruder')
  t.ok(ended.every(s => s.outputs.length === 1), 'each with its output')
})

t.test('no gateway holds the stream: a foreign Hello with acked_seq acks nothing, the job finishes once a gateway returns', async t => {
  const sys = await TestSystem.start(t, {
    name: 'linkorphan',
    workers: 1,
    workerEnv: { WORKER_LINK_TOKEN: TOKEN, BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '20' },
    gatewayEnv: { WORKER_LINK_TOKEN: TOKEN }
  })
  await sys.waitForWorkersConnected()
  const address = `127.0.0.1:${sys.workerPorts[0]}`
  const intruder = createWorkerClient(address)
  t.teardown(() => intruder.close())
  await sys.gateway!.kill('SIGKILL')
  await sys.workers[0].waitForLog(l => l.msg === 'event subscriber detached', 30_000)

  // the job is queued while no gateway streams the worker (as a gateway crashing right after the commit)
  await sys.startGateway({ WORKER_ADDRESSES: '127.0.0.1:1' })
  const id = (await sys.submit({ prompt: 'nobody streams me' })).body.job_id
  await sys.gateway!.kill('SIGKILL')
  await sys.workers[0].waitForLog(l => l.msg === 'job ended; waiting for the gateway to ack' && l.job_id === id, 30_000)
  t.same(await foreignSubscribe(intruder, 1_000_000), { code: grpc.status.UNAUTHENTICATED, events: 0 }, 'the intruder cannot subscribe')
  const counts = await sys.queueCounts()
  t.equal(counts.completed, 0, 'the queue entry is not completed: nothing was acked')

  await sys.startGateway()
  const ended = await sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 90_000)
  t.equal(ended.status, 'finished', 'the gateway that returns records the end')
})

t.test('with WORKER_TLS_*, a client without a certificate signed by the CA cannot call', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cj-linktls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }) }
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=link-ca', '-keyout', 'ca.key', '-out', 'ca.pem')
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  for (const who of ['worker', 'gateway', 'stranger']) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`)
    if (who === 'stranger') ssl('req', '-x509', '-key', 'stranger.key', '-in', 'stranger.csr', '-days', '2', '-out', 'stranger.pem')
    else ssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', `${who}.pem`)
  }
  const files = (who: string): Record<string, string> => ({ WORKER_TLS_CERT: join(dir, `${who}.pem`), WORKER_TLS_KEY: join(dir, `${who}.key`), WORKER_TLS_CA: join(dir, 'ca.pem') })
  const sys = await TestSystem.start(t, { name: 'linktls', workers: 1, workerEnv: files('worker'), gatewayEnv: files('gateway'), logLevel: 'info' })
  await sys.waitForWorkersConnected()
  const address = `127.0.0.1:${sys.workerPorts[0]}`
  const security = (who: string): WorkerLinkSecurity => ({ token: null, tls: { cert: join(dir, `${who}.pem`), key: join(dir, `${who}.key`), ca: join(dir, 'ca.pem') } })
  const plain = createWorkerClient(address)
  const stranger = createWorkerClient(address, security('stranger'))
  const peer = createWorkerClient(address, security('gateway'))
  t.teardown(() => { plain.close(); stranger.close(); peer.close() })
  t.not(await getInfo(plain), null, 'a plain-text client is refused')
  t.not(await getInfo(stranger), null, 'a client whose certificate the CA did not sign is refused')
  t.equal(await getInfo(peer), null, 'a client with a certificate from the CA is served')
  const id = (await sys.submit({ prompt: 'over mutual TLS' })).body.job_id
  const ended = await sys.waitForStatus(id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 90_000)
  t.equal(ended.status, 'finished', 'jobs run over the TLS link')
})
