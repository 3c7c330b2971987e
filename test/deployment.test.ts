// The deployment as written: compose.yaml and the Dockerfile, read as data (Docker cannot run here) and
// checked against the services' own configuration loaders, so that a renamed variable, a moved port
// or path, a missing volume or health check fails here instead of in someone's `docker compose up`.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { loadConfig as loadGatewayConfig, type GatewayConfig } from '../services/gateway/src/config.ts'
import { loadConfig as loadWorkerConfig, type WorkerConfig } from '../services/worker/src/config.ts'
import { MIGRATIONS_DIR } from '../packages/db/src/migrations.ts'
import { PROTO_ROOT } from '../packages/rpc/src/load.ts'
import { SHIPPED_WORKFLOWS_DIR } from '../services/worker/src/engines/workflow-declaration.ts'
import {
  ROOT, chainEnv, lastOf, readCompose, readDockerfile, readEnvFile, serviceEnv, stageChain,
  type ComposeFile, type ComposeService, type Stage
} from './helpers/deployment-files.ts'
import { TestSystem } from './helpers/system.ts'
import { freePort } from './helpers/ports.ts'

/** The container's path of a directory the config resolved (the loaders resolve relative to the cwd). */
const inContainer = (dir: string): string => dir.startsWith('/app/') ? dir : `/app/${relative(ROOT, dir)}`

/** Every variable a loader reads for this environment: those it would ever look at. */
function variablesRead<C> (load: (env: Record<string, string | undefined>) => C, env: Record<string, string>): { config: C, read: Set<string> } {
  const read = new Set<string>()
  const tracked = new Proxy(env, { get: (target, name) => { if (typeof name === 'string') read.add(name); return target[name as string] } })
  return { config: load(tracked), read }
}

const stages = readDockerfile()

/** What the container of a compose service sees: its image stage's ENV, then compose's environment. */
function containerEnv (service: ComposeService): Record<string, string> {
  const target = service.build?.target
  if (target === undefined) throw new Error('an app service is built from the Dockerfile with a target')
  return { ...chainEnv(stageChain(stages, target)), ...serviceEnv(service) }
}

function containerPort (mapping: string): number {
  return Number(mapping.split(':').at(-1)!.split('/')[0])
}

function namedMounts (service: ComposeService): Map<string, string> {
  const mounts = new Map<string, string>()
  for (const v of service.volumes ?? []) {
    const [source, target] = v.split(':')
    if (!source.startsWith('.') && !source.startsWith('/')) mounts.set(target, source)
  }
  return mounts
}

// compose as written with no .env (every default), and with the documented .env.example
const VARIANTS: Array<[string, Record<string, string>]> = [
  ['the defaults (no .env)', {}],
  ['.env.example', readEnvFile(join(ROOT, '.env.example'))]
]

for (const [variant, vars] of VARIANTS) {
  t.test(`compose.yaml with ${variant}: every variable is the services' own and valid`, async t => {
    const compose = readCompose(vars)
    const { gateway, worker } = compose.services
    t.ok(gateway && worker, 'a gateway and a worker service')

    const gw = variablesRead(env => loadGatewayConfig(env), containerEnv(gateway))
    for (const name of Object.keys(containerEnv(gateway))) t.ok(gw.read.has(name), `gateway: ${name} is a variable of its config schema (services/gateway/src/config.ts)`)
    const wk = variablesRead(env => loadWorkerConfig(env, { workerId: 'compose-worker' }), containerEnv(worker))
    for (const name of Object.keys(containerEnv(worker))) t.ok(wk.read.has(name), `worker: ${name} is a variable of its config schema (services/worker/src/config.ts)`)
    const g: GatewayConfig = gw.config
    const w: WorkerConfig = wk.config

    // reachable from outside its container, and the ports match what is published and exposed
    t.equal(g.host, '0.0.0.0', 'the gateway\'s HTTP listens on every interface')
    t.equal(g.grpcHost, '0.0.0.0', 'so does its gRPC API (GATEWAY_GRPC_HOST)')
    t.equal(w.grpcHost, '0.0.0.0', 'so does the worker\'s gRPC service')
    t.same((gateway.ports ?? []).map(containerPort).sort(), [g.port, g.grpcPort].sort(), `the gateway publishes its HTTP (${g.port}) and gRPC API (${g.grpcPort}) ports`)
    t.same(exposed(stageChain(stages, 'gateway')), [g.port, g.grpcPort].sort(), 'the gateway image EXPOSEs the same ports')
    t.same(exposed(stageChain(stages, 'worker')), [w.grpcPort], 'the worker image EXPOSEs its gRPC port')
    t.equal(worker.ports, undefined, 'the worker\'s port is not published (only gateways reach it, on the compose network)')

    // `--scale worker=N` with no edits: no static list, the registry, an address per replica
    t.same(g.workerAddresses, [], 'the gateway has no static WORKER_ADDRESSES')
    t.equal(g.workerDiscovery, true, 'it links to the workers announced in Redis')
    t.equal(w.advertiseAddress, null, 'workers set no WORKER_ADVERTISE_ADDRESS: each announces its own host name (the container\'s) and port')
    t.equal(g.queueName, w.queueName, 'gateway and worker use the same queue (and so the same registry)')
    t.same(g.workerLink, w.link, 'the gateway presents the credential the workers require')
    t.ok(w.link.token !== null || w.link.tls !== null, 'a worker listening on 0.0.0.0 requires a credential')

    // the addresses name the compose services
    const db = new URL(g.databaseUrl)
    t.equal(db.hostname, 'mariadb', 'DATABASE_URL points at the mariadb service')
    t.equal(decodeURIComponent(db.password), serviceEnv(compose.services.mariadb).MARIADB_ROOT_PASSWORD, 'with its root password')
    t.equal(db.pathname.slice(1), serviceEnv(compose.services.mariadb).MARIADB_DATABASE, 'and its database')
    for (const [name, url] of [['gateway', g.redisUrl], ['worker', w.redisUrl]]) t.equal(new URL(url).hostname, 'redis', `${name}: REDIS_URL points at the redis service`)
  })
}

t.test('.env.example names only variables compose.yaml uses', async t => {
  const text = readFileSync(join(ROOT, 'compose.yaml'), 'utf8')
  const documented = Object.keys(readEnvFile(join(ROOT, '.env.example')))
  t.ok(documented.includes('WORKER_LINK_TOKEN') && documented.includes('MARIADB_ROOT_PASSWORD') && documented.includes('AUTH'), 'it lists the secrets')
  for (const name of documented) t.ok(text.includes(`\${${name}`), `compose.yaml reads ${name}`)
})

function exposed (chain: Stage[]): number[] {
  return chain.flatMap(s => s.instructions).filter(i => i.keyword === 'EXPOSE').flatMap(i => i.args.split(' ').map(p => Number(p.split('/')[0]))).sort()
}

t.test('compose.yaml: volumes where the config points, Redis as BullMQ needs it, health checks, start order', async t => {
  const compose: ComposeFile = readCompose({})
  const { gateway, worker, redis, mariadb } = compose.services
  const g = loadGatewayConfig(containerEnv(gateway))
  const w = loadWorkerConfig(containerEnv(worker), { workerId: 'compose-worker' })

  const declared = new Set(Object.keys(compose.volumes ?? {}))
  const used = new Set(Object.values(compose.services).flatMap(s => [...namedMounts(s).values()]))
  for (const v of used) t.ok(declared.has(v), `volume ${v} is declared`)
  for (const v of declared) t.ok(used.has(v), `volume ${v} is mounted somewhere`)
  const mountedAt = (service: ComposeService, dir: string) => namedMounts(service).has(inContainer(dir))
  t.ok(mountedAt(gateway, g.outputDir), `the gateway's OUTPUT_DIR (${inContainer(g.outputDir)}) is a volume`)
  t.ok(mountedAt(gateway, g.uploadDir), `the gateway's UPLOAD_DIR (${inContainer(g.uploadDir)}) is a volume`)
  t.ok(w.workflowsDir !== null && mountedAt(worker, w.workflowsDir), `the worker's WORKFLOWS_DIR (${w.workflowsDir}) is a volume`)
  t.ok(namedMounts(mariadb).has('/var/lib/mysql'), 'MariaDB keeps its data on a volume')
  t.ok(namedMounts(redis).has('/data'), 'Redis keeps its append-only file on a volume')

  const redisArgs = (redis.command ?? []).join(' ')
  t.match(redisArgs, /--maxmemory-policy noeviction\b/, 'Redis never evicts (BullMQ requires noeviction)')
  t.match(redisArgs, /--appendonly yes\b/, 'and keeps an append-only file')

  for (const [name, service] of Object.entries(compose.services)) {
    if (service.profiles?.length) continue // an optional placeholder (the comfyui profile): its image is yours
    t.ok(service.healthcheck?.test?.length, `${name} has a health check`)
    for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
      t.equal(condition, 'service_healthy', `${name} waits for ${dep} to be healthy`)
      t.ok(compose.services[dep]?.healthcheck, `${dep} (${name} depends on it) has a health check`)
    }
  }
  t.match(gateway.depends_on, { mariadb: {}, redis: {} }, 'the gateway starts after MariaDB and Redis')
  t.match(worker.depends_on, { redis: {} }, 'the worker starts after Redis')
  t.equal(gateway.depends_on?.worker, undefined, 'and not after a worker: workers come and go through the registry')
  t.match(gateway.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${g.port}/(ready|api/health|health)\\b`), 'the gateway\'s health check asks its own HTTP port')
  t.same(worker.healthcheck!.test, ['CMD', ...lastOf(stageChain(stages, 'worker'), 'HEALTHCHECK')!.exec!], 'the worker\'s health check is its image\'s')
})

t.test('Dockerfile: multi-stage, production dependencies only, the compiled build, a non-root user, a health check', async t => {
  const compose = readCompose({})
  const build = stages.find(s => s.instructions.some(i => i.keyword === 'RUN' && /\bnpm run build\b/.test(i.args)))
  t.ok(build, 'a stage runs the compiled build (npm run build)')
  const prodDeps = stages.find(s => s.instructions.some(i => i.keyword === 'RUN' && /\bpnpm install\b.*--prod\b/.test(i.args)))
  t.ok(prodDeps, 'a stage installs production dependencies only (pnpm install --prod)')
  if (!build || !prodDeps) return

  // every workspace package's manifest reaches the production install, or its dependencies are missing
  const manifests = ['services', 'packages'].flatMap(dir => readdirSync(join(ROOT, dir)).map(name => `${dir}/${name}/package.json`)).filter(f => existsSync(join(ROOT, f)))
  const copied = prodDeps.instructions.filter(i => i.keyword === 'COPY').map(i => i.args)
  for (const file of manifests) t.ok(copied.some(args => args.startsWith(`${file} `)), `the production install sees ${file}`)

  for (const [name, service] of Object.entries(compose.services).filter(([, s]) => s.build)) {
    const target = service.build!.target!
    const chain = stageChain(stages, target)
    t.ok(chain.length >= 2 && chain[0].from !== build.name, `${name}: its image (${target}) does not start from the build stage`)
    const instructions = chain.flatMap(s => s.instructions)
    const copies = instructions.filter(i => i.keyword === 'COPY')
    for (const copy of copies.filter(c => /--from=/.test(c.args))) {
      const from = /--from=(\S+)/.exec(copy.args)![1]
      if (from === build.name) {
        t.notMatch(copy.args, /node_modules|^--from=\S+ \/app \.\/?$|^--from=\S+ \/app\/? /, `${name}: from the build stage only what it built or ships (${copy.args})`)
        const source = copy.args.split(' ')[1].replace(/^\/app\//, '')
        const src = source.replace(/\/dist$/, '/src')
        t.ok(existsSync(join(ROOT, src)), `${name}: ${source} comes from ${src} in the repository`)
      }
    }
    t.ok(copies.some(c => c.args.startsWith(`--from=${prodDeps.name} `)), `${name}: node_modules from the production install`)
    t.notOk(instructions.some(i => i.keyword === 'RUN' && /\b(pnpm|npm) (install|i|add)\b(?!.*--prod)|\btsc\b|npm run build/.test(i.args)), `${name}: no development install or compiler in its stages`)

    const user = lastOf(chain, 'USER')?.args
    t.ok(user !== undefined && !/^(root|0)(:|$)/.test(user), `${name}: runs as a non-root user (${user})`)
    const cmd = lastOf(chain, 'CMD')?.exec
    t.same(cmd, ['node', '--conditions=comfy-jobs-compiled', `services/${target}/dist/server.js`], `${name}: CMD runs the compiled ${target} (as npm start does)`)
    t.same(service.command ?? cmd, cmd, `${name}: compose keeps the image's command`)
    t.ok(copies.some(c => c.args.endsWith(` services/${target}/dist`)), `${name}: the image has the compiled ${target}`)
    const health = lastOf(chain, 'HEALTHCHECK')
    t.ok(health?.exec?.length, `${name}: a HEALTHCHECK`)
    for (const script of (health?.exec ?? []).filter(a => /\/dist\/.*\.js$/.test(a))) {
      t.ok(existsSync(join(ROOT, script.replace('/dist/', '/src/').replace(/\.js$/, '.ts'))), `${name}: the health check's ${script} is compiled from the repository`)
    }
  }

  // what the compiled code reads beside itself is in the runtime image, where it looks for it
  const runtimeTargets = new Set(stageChain(stages, 'gateway').concat(stageChain(stages, 'worker')).flatMap(s => s.instructions).filter(i => i.keyword === 'COPY').map(i => i.args.split(' ').at(-1)))
  for (const [what, dir] of [['migrations', MIGRATIONS_DIR], ['the gRPC contract', PROTO_ROOT], ['the shipped workflows', SHIPPED_WORKFLOWS_DIR], ['the web page', join(ROOT, 'services/gateway/public')]]) {
    t.ok(runtimeTargets.has(relative(ROOT, resolve(dir))), `${what} (${relative(ROOT, dir)}) are copied into the image`)
  }
})

t.test('the worker image\'s health check answers SERVING for a worker that takes jobs, and fails without one', async t => {
  const sys = await TestSystem.start(t, { name: 'deployhc', workers: 1 })
  const probe = (port: number) => spawnSync(process.execPath, ['--import', 'tsx', 'services/worker/src/healthcheck.ts'], {
    cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WORKER_GRPC_HOST: '127.0.0.1', WORKER_GRPC_PORT: String(port) }
  })
  const up = probe(sys.workerPorts[0])
  t.equal(up.status, 0, 'exit 0 for the live worker')
  t.match(up.stdout, /worker health: SERVING/)
  const down = probe(await freePort())
  t.equal(down.status, 1, 'exit 1 when nothing answers')
  t.match(down.stdout, /worker health: no answer/)
})
