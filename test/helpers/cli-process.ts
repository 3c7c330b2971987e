import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../packages/cli/bin/comfy-jobs.mjs', import.meta.url))

export interface CliRun { code: number, stdout: string, stderr: string }

function cliEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_OPTIONS // tap's loaders are for the test process, not for the CLI under test
  return env
}

/** Runs `comfy-jobs` to its end, as a user would (in `cwd`, when given). */
export function runCli (args: string[], opts: { cwd?: string, timeoutMs?: number, env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], { env: { ...cliEnv(), ...opts.env }, timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

/** Starts `comfy-jobs generate …`: the job id as soon as it prints it, the run when it exits (killed after timeoutMs). */
export function startCli (args: string[], timeoutMs = 60_000): { jobId: Promise<string>, done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv() })
  let stdout = ''
  let stderr = ''
  const jobId = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0].trim())
    })
    child.once('exit', () => reject(new Error(`the CLI exited before printing a job id: ${stderr}`)))
  })
  jobId.catch(() => {})
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = once(child, 'exit').then(([code]) => {
    clearTimeout(timer)
    return { code: code ?? 1, stdout, stderr }
  })
  return { jobId, done }
}
