import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { killWhenTestDies } from './orphan-guard.ts'
import { freePort } from './ports.ts'

/** A Redis server of the test's own, on a free port, that the test may stop and start again. */
export class PrivateRedis {
  port = 0
  #child: ChildProcess | null = null

  /** the server's process id while it runs */
  get pid (): number | undefined {
    return this.#child?.pid
  }

  get url (): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start (): Promise<void> {
    if (!this.port) this.port = await freePort()
    this.#child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' })
    if (this.#child.pid !== undefined) killWhenTestDies(this.#child.pid)
    const deadline = Date.now() + 10_000
    for (;;) {
      const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        await probe.ping()
        probe.disconnect()
        return
      } catch {
        probe.disconnect()
        if (Date.now() > deadline) throw new Error(`private redis on ${this.port} did not start`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  }

  /** SIGSTOP: the server keeps its connections open and answers nothing (a hung Redis) until unfreeze(). */
  freeze (): void {
    this.#child?.kill('SIGSTOP')
  }

  unfreeze (): void {
    this.#child?.kill('SIGCONT')
  }

  async stop (): Promise<void> {
    const child = this.#child
    if (!child || child.exitCode !== null) return
    child.kill('SIGKILL')
    await once(child, 'exit')
    this.#child = null
  }
}
