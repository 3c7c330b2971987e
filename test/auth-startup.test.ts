// AUTH modes (issue 13): open on loopback (the quick start), and a gateway bound to a public address
// with AUTH unset and no API key refuses to start, naming the variable and how to make a key.
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { ServiceProcess } from './helpers/service-process.ts'
import { freePort } from './helpers/ports.ts'
import { runCli } from './helpers/cli-process.ts'

const sys = await TestSystem.start(t, { name: 'auth_startup', workers: 0, gateway: false })

async function gatewayOn (host: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  sys.gatewayPort = await freePort()
  sys.gatewayGrpcPort = await freePort()
  const gateway = new ServiceProcess('gateway', sys.gatewayEnv({ HOST: host, ...env }))
  t.teardown(() => gateway.kill('SIGKILL'))
  return gateway
}

const ready = (g: ServiceProcess) => g.waitForLog(l => l.msg === 'gateway ready', 120_000)

t.test('0.0.0.0, AUTH unset, no key: refuses to start and says what to do', async t => {
  const gateway = await gatewayOn('0.0.0.0')
  const code = await gateway.exited
  t.equal(code, 1, 'exits 1')
  const said = gateway.raw.join('\n')
  t.match(said, /refusing to start: listening on 0\.0\.0\.0/)
  t.match(said, /AUTH/, 'names the variable')
  t.match(said, /comfy-jobs keys create --owner <name> --scopes admin/, 'and how to create a key')
  t.notMatch(said, /gateway ready/)
})

t.test('0.0.0.0 with AUTH=off: starts open, as asked', async t => {
  const gateway = await gatewayOn('0.0.0.0', { AUTH: 'off' })
  await ready(gateway)
  t.equal((await fetch(`${sys.baseUrl}/api/history`)).status, 200)
  await gateway.kill('SIGTERM')
})

t.test('loopback, AUTH unset: open (the quick start is unchanged)', async t => {
  const gateway = await gatewayOn('127.0.0.1')
  await ready(gateway)
  t.equal((await fetch(`${sys.baseUrl}/api/history`)).status, 200)
  const health = await fetch(`${sys.baseUrl}/health`).then(r => r.json()) as any
  t.ok('workers' in health, '/health keeps its detail while auth is off')
  await gateway.kill('SIGTERM')
})

t.test('0.0.0.0, AUTH unset, once a key exists: starts with keys required', async t => {
  const made = await runCli(['keys', 'create', '--owner', 'ops', '--scopes', 'read'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
  t.equal(made.code, 0, made.stderr)
  t.match(made.stdout, /secret \(shown once, store it now\):\ncj_live_/)
  const secret = made.stdout.trim().split('\n').pop()!
  const gateway = await gatewayOn('0.0.0.0')
  await ready(gateway)
  t.equal((await fetch(`${sys.baseUrl}/api/history`)).status, 401, 'no key: 401')
  t.equal((await fetch(`${sys.baseUrl}/api/history`, { headers: { authorization: `Bearer ${secret}` } })).status, 200, 'the key: 200')
  const health = await fetch(`${sys.baseUrl}/health`)
  t.equal(health.status, 200, 'liveness stays open')
  t.same(Object.keys(await health.json() as object), ['status'], 'and says nothing about the workers')
  t.equal((await fetch(`${sys.baseUrl}/api/health`, { headers: { authorization: `Bearer ${secret}` } })).status, 403, 'the detailed health needs admin')
  await gateway.kill('SIGTERM')
})

t.test('a bad AUTH value stops start-up naming it', async t => {
  const gateway = await gatewayOn('127.0.0.1', { AUTH: 'maybe' })
  t.equal(await gateway.exited, 1)
  t.match(gateway.raw.join('\n'), /AUTH="maybe"/)
})
