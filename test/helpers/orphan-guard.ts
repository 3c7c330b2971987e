import { spawn } from 'node:child_process'

/**
 * Kills `pid` (SIGKILL) once this test process is gone, if it is still alive then: a test file that
 * dies without its teardown (a tap timeout, a crash) leaves no service or ComfyUI behind holding
 * ports and database connections. A detached shell polls both once a second and exits with either.
 */
export function killWhenTestDies (pid: number): void {
  const me = process.pid
  const script = `while kill -0 ${me} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 1; done; ` +
    `kill -0 ${me} 2>/dev/null || kill -9 ${pid} 2>/dev/null; exit 0`
  spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref()
}
