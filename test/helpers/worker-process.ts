import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { killWhenTestDies } from './orphan-guard.ts'

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WORKER_ENTRY = 'services/worker/src/server.ts'

/** A port nobody listens on right now: bind port 0, read it, release it. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export interface WorkerProcess {
  child: ChildProcess
  address: string
  port: number
  workerId: string
  epoch: string
  /** parsed JSON log lines so far */
  logs: Array<Record<string, any>>
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM, then SIGKILL after killAfterMs; resolves when the process is gone. */
  stop: (killAfterMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function spawnWorker (env: Record<string, string>): { child: ChildProcess, output: () => string, logs: Array<Record<string, any>>, onLine: (fn: (line: Record<string, any>) => void) => void, exited: WorkerProcess['exited'] } {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env }
  // tap's loader and coverage hooks are for the test process, not for the worker under test.
  delete childEnv.NODE_OPTIONS
  delete childEnv.NODE_V8_COVERAGE
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_ENTRY], { cwd: REPO_ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid !== undefined) killWhenTestDies(child.pid)
  let text = ''
  let partial = ''
  const logs: Array<Record<string, any>> = []
  const listeners: Array<(line: Record<string, any>) => void> = []
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk
    partial += chunk
    const lines = partial.split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      let parsed: Record<string, any>
      try { parsed = JSON.parse(line) } catch { continue }
      logs.push(parsed)
      for (const fn of listeners) fn(parsed)
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => text, logs, onLine: fn => listeners.push(fn), exited }
}

/** Starts the worker service as a child process and resolves once it logged `worker ready`. */
export async function startWorkerProcess (env: Record<string, string>, readyTimeoutMs = 120_000): Promise<WorkerProcess> {
  const { child, output, logs, onLine, exited } = spawnWorker(env)
  const ready = await new Promise<Record<string, any>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready after ${readyTimeoutMs} ms:\n${output()}`)), readyTimeoutMs)
    onLine(line => {
      if (line.msg === 'worker ready') { clearTimeout(timer); resolve(line) }
    })
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`worker exited (${code ?? signal}) before ready:\n${output()}`)) })
  })
  const stop = async (killAfterMs = 5000): Promise<{ code: number | null, signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      const result = await exited
      clearTimeout(timer)
      return result
    }
    return exited
  }
  return {
    child,
    port: ready.port,
    address: `127.0.0.1:${ready.port}`,
    workerId: ready.worker_id,
    epoch: ready.epoch,
    logs,
    output,
    exited,
    stop
  }
}

/** Runs the worker expecting it to refuse to start; resolves with its exit and everything it printed. */
export async function runWorkerUntilExit (env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null, signal: NodeJS.Signals | null, output: string }> {
  const { child, output, exited } = spawnWorker(env)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const result = await exited
  clearTimeout(timer)
  return { ...result, output: output() }
}
