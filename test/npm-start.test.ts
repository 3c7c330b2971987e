// `npm start` as a process manager runs it: the signal goes to npm's own process only, not to a
// terminal's process group. The gateway and the worker must be gone within the grace period.
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomUUID } from 'node:crypto'
import { createTestDatabase } from './helpers/database.ts'
import { freePort } from './helpers/ports.ts'
import { killWhenTestDies } from './helpers/orphan-guard.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const GRACE_MS = 5000

/** Every live process whose parent chain leads to pid. */
function descendants (pid: number): number[] {
  const parent = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {}
  }
  const found: number[] = []
  const walk = (p: number): void => {
    for (const [child, pp] of parent) if (pp === p) { found.push(child); walk(child) }
  }
  walk(pid)
  return found
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch { return false }
}

async function until (what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${signal} to npm's own process stops the gateway and the worker`, async t => {
    const db = await createTestDatabase(`npmstart_${signal}`)
    t.teardown(() => db.drop())
    const dir = await mkdtemp(join(tmpdir(), 'cj-npmstart-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const [port, grpcPort, workerPort] = [await freePort(), await freePort(), await freePort()]
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        QUEUE_NAME: `t-npmstart-${randomUUID().slice(0, 8)}`,
        PORT: String(port),
        GATEWAY_GRPC_PORT: String(grpcPort),
        WORKER_GRPC_PORT: String(workerPort),
        WORKER_ADDRESSES: `127.0.0.1:${workerPort}`,
        OUTPUT_DIR: join(dir, 'outputs'),
        UPLOAD_DIR: join(dir, 'uploads'),
        DB_POOL_SIZE: '2',
        SHUTDOWN_GRACE_MS: String(GRACE_MS)
      },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    killWhenTestDies(npm.pid!)
    let output = ''
    npm.stdout!.on('data', (c: Buffer) => { output += c.toString() })
    npm.stderr!.on('data', (c: Buffer) => { output += c.toString() })
    const npmGone = new Promise<void>(resolve => npm.once('close', () => resolve()))
    t.teardown(async () => { if (npm.exitCode === null) npm.kill('SIGKILL') })

    await until('the gateway says it is up', () => output.includes('comfy-jobs is up'), 120_000)
    await until('the worker is ready', () => output.includes('"worker ready"'), 120_000)
    const health = await fetch(`http://127.0.0.1:${port}/api/health`)
    t.equal(health.status === 200 || health.status === 503, true, 'the gateway answers its health route')
    const services = descendants(npm.pid!).filter(pid => {
      try { return /services\/(gateway|worker)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')) } catch { return false }
    })
    for (const pid of services) killWhenTestDies(pid)
    t.equal(services.length, 2, 'npm start runs a gateway and a worker')

    process.kill(npm.pid!, signal) // npm's process alone, as a process manager does
    await until('gateway and worker are gone', () => services.every(pid => !alive(pid)), GRACE_MS + 5000)
    t.pass('gateway and worker are gone within the grace period')
    await npmGone
    t.match(output, /received SIG(TERM|INT)/, 'the start script says why it stopped them')
    t.equal(await fetch(`http://127.0.0.1:${port}/api/health`).then(() => 'answers', () => 'gone'), 'gone', 'nothing listens any more')
  })
}
