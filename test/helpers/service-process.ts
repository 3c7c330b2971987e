import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { killWhenTestDies } from './orphan-guard.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export type LogLine = Record<string, any>

/** A service (gateway or worker) running as a real child process; its pino lines are collected. */
export class ServiceProcess {
  readonly name: string
  /** the environment it was started with, beyond the test's own */
  readonly env: Record<string, string>
  readonly child: ChildProcess
  readonly logs: LogLine[] = []
  readonly raw: string[] = []
  readonly exited: Promise<number | null>
  #waiters: Array<{ pred: (l: LogLine) => boolean, resolve: (l: LogLine) => void }> = []

  /**
   * nodeArgs: extra Node.js flags, e.g. --cpu-prof (not allowed in NODE_OPTIONS). compiled: run the
   * service's dist/ (npm run build first) as `npm start` does, instead of its sources through tsx.
   */
  constructor (name: 'gateway' | 'worker', env: Record<string, string>, nodeArgs: string[] = [], compiled = false) {
    this.name = name
    this.env = env
    const entry = compiled ? ['--conditions=comfy-jobs-compiled', `services/${name}/dist/server.js`] : ['--import', 'tsx', `services/${name}/src/server.ts`]
    this.child = spawn(process.execPath, [...nodeArgs, ...entry], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let buffered = ''
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        this.raw.push(line)
        if (process.env.TEST_SERVICE_LOGS) process.stderr.write(`[${name}] ${line}\n`)
        let parsed: LogLine | null = null
        try { parsed = JSON.parse(line) } catch {}
        if (parsed) {
          this.logs.push(parsed)
          this.#waiters = this.#waiters.filter(w => {
            if (!w.pred(parsed!)) return true
            w.resolve(parsed!)
            return false
          })
        }
      }
    }
    this.child.stdout!.on('data', onData)
    this.child.stderr!.on('data', onData)
    // 'close', not 'exit': by then every line the process wrote has been read
    this.exited = once(this.child, 'close').then(([code]) => code as number | null)
    if (this.child.pid !== undefined) killWhenTestDies(this.child.pid)
  }

  /** Resolves with the first log line (past or future) matching pred; rejects after timeoutMs or on exit. */
  waitForLog (pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.logs.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms; last lines:\n${this.raw.slice(-15).join('\n')}`)), timeoutMs)
      void this.exited.then(code => {
        clearTimeout(timer) // a pending timer would keep the test process alive
        reject(new Error(`${this.name} exited (${code}) before the log line; last lines:\n${this.raw.slice(-15).join('\n')}`))
      })
      this.#waiters.push({ pred, resolve: l => { clearTimeout(timer); resolve(l) } })
    })
  }

  async kill (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill(signal)
    await this.exited
  }
}
