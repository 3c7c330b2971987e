#!/usr/bin/env node
// `npm start`: prepare the checkout, then run the gateway and the worker together in the foreground.
// Each child's output lines are prefixed with its name (pino's JSON is passed through as is).
// SIGINT/SIGTERM are forwarded once to both (a second Ctrl-C forwards again, which makes the services
// exit at once); the script exits when both have exited. If one dies unexpectedly the other is stopped
// and the script exits non-zero.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { prepare, root } from './prepare.mjs'

const SERVICES = ['gateway', 'worker']
const tag = name => `[${name}]`.padEnd(Math.max(...SERVICES.map(s => s.length)) + 2)

function say (line) {
  process.stdout.write(`[start]   ${line}\n`)
}

/** Reads a service's `start` script (`node --import tsx src/server.ts`) so this file never drifts from it. */
function commandFor (name) {
  const dir = join(root, 'services', name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const script = pkg.scripts?.start ?? 'node --import tsx src/server.ts'
  const words = script.trim().split(/\s+/)
  if (words[0] !== 'node') return { cmd: script, args: [], shell: true, cwd: dir }
  // Run from the repository root so relative paths such as OUTPUT_DIR=./data/outputs land there;
  // the entry file is made absolute, `--import tsx` resolves from the root's node_modules.
  const args = words.slice(1).map(w => (/\.(ts|js|mjs)$/.test(w) ? join(dir, w) : w))
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

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => stopAll(sig === 'SIGHUP' ? 'SIGTERM' : sig, `received ${sig}`))
}
// Never leave the services behind when this script goes (an uncaught error, process.exit elsewhere).
process.on('exit', () => signalAll('SIGTERM'))
