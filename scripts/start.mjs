#!/usr/bin/env node
// `npm start`: prepare the checkout, compile it (scripts/build.mjs, skipped when dist/ is current), then
// run the compiled gateway and worker together in the foreground. `npm start -- --tsx` (or
// `npm run dev`) runs the TypeScript sources through tsx instead, with no build.
// Each child's output lines are prefixed with its name (pino's JSON is passed through as is).
// SIGINT/SIGTERM are forwarded once to both (a second Ctrl-C forwards again, which makes the services
// exit at once); the script exits when both have exited. If one dies unexpectedly the other is stopped
// and the script exits non-zero.
import { spawn } from 'node:child_process'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { build, compiledEntry } from './build.mjs'
import { prepare, root } from './prepare.mjs'

const SERVICES = ['gateway', 'worker']
const tag = name => `[${name}]`.padEnd(Math.max(...SERVICES.map(s => s.length)) + 2)

function say (line) {
  process.stdout.write(`[start]   ${line}\n`)
}

const useTsx = process.argv.slice(2).includes('--tsx')

/**
 * Run from the repository root so relative paths such as OUTPUT_DIR=./data/outputs land there; `--import
 * tsx` resolves from the root's node_modules.
 */
function commandFor (name) {
  const args = useTsx ? ['--import', 'tsx', join(root, 'services', name, 'src', 'server.ts')] : compiledEntry(name)
  return { cmd: process.execPath, args, shell: false, cwd: root }
}

/** A non-fatal hint when MariaDB or Redis does not answer on its TCP port. */
function probe (label, url, fallbackPort) {
  let host, port
  try {
    const u = new URL(url)
    host = u.hostname || '127.0.0.1'
    port = Number(u.port) || fallbackPort
  } catch { return Promise.resolve() }
  return new Promise(resolve => {
    const sock = createConnection({ host, port })
    const done = ok => {
      sock.destroy()
      if (!ok) say(`warning: ${label} does not answer on ${host}:${port}; the services will fail until it does`)
      resolve()
    }
    sock.setTimeout(1000, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

try {
  await prepare()
  if (!useTsx) build()
} catch (err) {
  process.stderr.write(`[start]   cannot prepare the checkout: ${err.message}\n`)
  process.exit(1)
}

const env = process.env
await Promise.all([
  probe('MariaDB', env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs', 3306),
  probe('Redis', env.REDIS_URL ?? 'redis://127.0.0.1:6379', 6379)
])

const host = env.HOST ?? '127.0.0.1'
const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
const baseUrl = `http://${shownHost}:${env.PORT ?? 5000}`
say(`starting gateway (${baseUrl}, gRPC ${env.GATEWAY_GRPC_HOST ?? '127.0.0.1'}:${env.GATEWAY_GRPC_PORT ?? 50052}) and worker (gRPC ${env.WORKER_GRPC_HOST ?? '127.0.0.1'}:${env.WORKER_GRPC_PORT ?? 50051})`)

const children = new Map()
let stopping = false
let exitCode = 0
let killTimer

function pipeLines (stream, out, prefix, onLine) {
  const rl = createInterface({ input: stream, crlfDelay: Infinity })
  rl.on('line', line => {
    out.write(`${prefix}${line}\n`)
    onLine?.(line)
  })
}

function signalAll (signal) {
  for (const [name, child] of children) {
    try {
      // Each child leads its own process group (detached), so a terminal's Ctrl-C reaches only this
      // script and each service gets exactly one signal from here.
      process.kill(-child.pid, signal)
    } catch (err) {
      if (err.code !== 'ESRCH') say(`cannot send ${signal} to ${name}: ${err.message}`)
    }
  }
}

function stopAll (signal, reason) {
  if (!stopping) {
    stopping = true
    say(`${reason}; sending ${signal} to ${[...children.keys()].join(' and ')}`)
    // Past the services' own grace period (SHUTDOWN_GRACE_MS, 10 s by default), kill what is left.
    const graceMs = Number(env.SHUTDOWN_GRACE_MS) || 10000
    killTimer = setTimeout(() => {
      say(`still running after ${graceMs + 5000} ms; killing`)
      signalAll('SIGKILL')
    }, graceMs + 5000)
    killTimer.unref()
  } else {
    say(`${reason} again; sending ${signal} again (the services exit at once)`)
  }
  signalAll(signal)
}

for (const name of SERVICES) {
  const { cmd, args, shell, cwd } = commandFor(name)
  const child = spawn(cmd, args, { cwd, env, shell, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  children.set(name, child)
  const prefix = `${tag(name)} `
  pipeLines(child.stdout, process.stdout, prefix, line => {
    if (name === 'gateway' && line.includes('"gateway ready"')) {
      say(`comfy-jobs is up: ${baseUrl}  (try: curl -s ${baseUrl}/api/health)`)
    }
  })
  pipeLines(child.stderr, process.stderr, prefix)
  child.on('error', err => {
    say(`${name} could not start: ${err.message}`)
  })
  child.on('exit', (code, signal) => {
    children.delete(name)
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (!stopping) {
      exitCode = code || 1
      say(`${name} exited unexpectedly (${how})`)
      stopAll('SIGTERM', `${name} is gone`)
    } else {
      say(`${name} exited (${how})`)
      if (code !== 0 && exitCode === 0) exitCode = code ?? 1
    }
    if (children.size === 0) {
      clearTimeout(killTimer)
      process.exitCode = exitCode
    }
  })
}

// `npm start` runs this script with `exec`, so npm's own SIGINT/SIGTERM reaches it (a process
// manager signals npm alone). A terminal's Ctrl-C reaches npm and this script together, and npm
// passes its copy on: one signal arriving twice within a moment counts once.
const SAME_SIGNAL_MS = 1000
let lastSignal = { sig: '', at: 0 }
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    const now = Date.now()
    const repeat = lastSignal.sig === sig && now - lastSignal.at < SAME_SIGNAL_MS
    lastSignal = { sig, at: now }
    if (!repeat) stopAll(sig === 'SIGHUP' ? 'SIGTERM' : sig, `received ${sig}`)
  })
}
// A parent that goes without signalling us (npm killed, a shell that did not pass the signal on)
// leaves us re-parented: stop the services as if it had sent SIGTERM.
const parentPid = process.ppid
setInterval(() => {
  if (process.ppid !== parentPid) stopAll('SIGTERM', `parent process ${parentPid} is gone`)
}, 500).unref()
// Never leave the services behind when this script goes (an uncaught error, process.exit elsewhere).
process.on('exit', () => signalAll('SIGTERM'))
