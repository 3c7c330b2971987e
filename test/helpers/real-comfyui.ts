// A real ComfyUI 0.8.0 (CPU, no model weights) for one test file, from ../shared/comfyui-real:
// installed into a folder of its own (so its input and output folders are the file's alone), started
// on a free port with the folder's start.sh, killed at teardown. COMFYUI_REAL_DIR says where the
// shared folder is; by default `../shared/comfyui-real` from the repository root.
import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { killWhenTestDies } from './orphan-guard.ts'
import { freePort } from './ports.ts'
import { REPO_ROOT } from './worker-process.ts'

const run = promisify(execFile)

export const COMFYUI_REAL_DIR = resolve(REPO_ROOT, process.env.COMFYUI_REAL_DIR ?? '../shared/comfyui-real')

/**
 * A test file with a real ComfyUI gets this long instead of .taprc's 120 s: installing and starting
 * one takes 10-60 s on a loaded machine (load 20: a minute), on top of its scenarios.
 */
const FILE_TIMEOUT_MS = 300_000

/** The test file's root `t`. */
export interface RootTest {
  teardown: (fn: () => unknown) => void
  setTimeout: (ms: number) => void
}

export class RealComfyUI {
  readonly home: string
  readonly port: number
  pid = 0

  private constructor (home: string, port: number) {
    this.home = home
    this.port = port
  }

  /** Installs (seconds once the apt packages are there; .ci/run installs them) and starts one. */
  static async start (t: RootTest): Promise<RealComfyUI> {
    t.setTimeout(FILE_TIMEOUT_MS)
    if (!existsSync(join(COMFYUI_REAL_DIR, 'install.sh'))) {
      throw new Error(`no real ComfyUI at ${COMFYUI_REAL_DIR} (set COMFYUI_REAL_DIR to the comfyui-real folder)`)
    }
    const home = await mkdtemp(join(tmpdir(), 'cj-comfyui-real-'))
    const comfy = new RealComfyUI(home, await freePort())
    t.teardown(() => comfy.stop())
    await run('bash', [join(COMFYUI_REAL_DIR, 'install.sh'), home], { maxBuffer: 16 << 20 })
    await comfy.launch()
    return comfy
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  get inputDir (): string {
    return join(this.home, 'ComfyUI', 'input')
  }

  get outputDir (): string {
    return join(this.home, 'ComfyUI', 'output')
  }

  /** start.sh: waits until /system_stats answers, prints the PID. */
  async launch (): Promise<void> {
    const { stdout } = await run('bash', [join(COMFYUI_REAL_DIR, 'start.sh'), this.home, String(this.port)], { timeout: 200_000 })
    this.pid = Number(stdout.trim().split('\n').at(-1))
    if (!Number.isInteger(this.pid) || this.pid <= 0) throw new Error(`start.sh printed no PID: ${stdout}`)
    // it outlives start.sh (it runs in the background), so it must not outlive this test file
    killWhenTestDies(this.pid)
  }

  /** The process dies at once (SIGKILL): queue and history gone. Resolves when the port is closed. */
  async kill (): Promise<void> {
    const pid = this.pid
    this.pid = 0
    if (pid === 0) return
    try { process.kill(pid, 'SIGKILL') } catch {}
    while (alive(pid) || await this.answers()) await new Promise(resolve => setTimeout(resolve, 50))
  }

  async restart (): Promise<void> {
    await this.kill()
    await this.launch()
  }

  async stop (): Promise<void> {
    await this.kill()
    await rm(this.home, { recursive: true, force: true })
  }

  async answers (): Promise<boolean> {
    return fetch(`${this.url}/system_stats`, { signal: AbortSignal.timeout(1000) }).then(r => r.ok, () => false)
  }

  /** Files ComfyUI wrote under output/<subfolder>. */
  async outputs (subfolder: string): Promise<string[]> {
    return readdir(join(this.outputDir, subfolder)).catch(() => [])
  }

  async get (path: string): Promise<{ status: number, json: any }> {
    const res = await fetch(`${this.url}${path}`)
    const text = await res.text()
    return { status: res.status, json: text === '' ? null : JSON.parse(text) }
  }

  async post (path: string, body: unknown): Promise<{ status: number, json: any, text: string }> {
    const res = await fetch(`${this.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.text()
    let json: any = null
    try { json = JSON.parse(text) } catch {}
    return { status: res.status, json, text }
  }

  /** POST /upload/image: the file lands in ComfyUI's input folder under the name it answers. */
  async upload (name: string, data: Buffer): Promise<string> {
    const form = new FormData()
    form.append('image', new Blob([new Uint8Array(data)]), name)
    const res = await fetch(`${this.url}/upload/image`, { method: 'POST', body: form })
    if (!res.ok) throw new Error(`upload of ${name}: ${res.status} ${await res.text()}`)
    return (await res.json() as { name: string }).name
  }

  /** Polls until pred holds (a condition, not a time). */
  async waitUntil (pred: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!await pred()) {
      if (Date.now() > deadline) throw new Error(`real ComfyUI: timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
