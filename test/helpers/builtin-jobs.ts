// Jobs of the shipped workflows through the real gateway and a built-in worker: upload the inputs,
// submit, wait for the end, fetch the output as a user would.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { TestSystem } from './system.ts'

export async function startBuiltinSystem (t: Test, name: string): Promise<TestSystem> {
  const uploadDir = await mkdtemp(join(tmpdir(), `cj-${name}-uploads-`))
  t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
  const sys = await TestSystem.start(t, {
    name,
    workers: 1,
    workerEnv: { BUILTIN_STEPS: '3', BUILTIN_STEP_MS: '0', WORKER_CONCURRENCY: '2' },
    gatewayEnv: { UPLOAD_DIR: uploadDir }
  })
  await sys.waitForWorkersConnected()
  return sys
}

/** POST /api/upload; the stored name to put in a job's inputs. */
export async function upload (sys: TestSystem, bytes: Buffer, filename: string): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), filename)
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
  const body = await res.json() as { name: string }
  if (res.status !== 200) throw new Error(`upload of ${filename}: ${res.status} ${JSON.stringify(body)}`)
  return body.name
}

export interface FinishedJob {
  status: any
  output: { kind: string, mime: string, url: string, width: number, height: number, bytes: number, duration_ms?: number, frames?: number }
  /** the output's bytes as /outputs/ served them */
  data: Buffer
  contentType: string | null
}

/** Submits, waits for a terminal status (throws unless finished), fetches the first output. */
export async function runJob (sys: TestSystem, body: Record<string, unknown>): Promise<FinishedJob> {
  const submitted = await sys.submit({ model: 'turbo_fp8', seed: 11, ...body })
  if (submitted.status !== 200) throw new Error(`submit of ${String(body.workflow)}: ${submitted.status} ${JSON.stringify(submitted.body)}`)
  const status = await sys.waitForStatus(submitted.body.job_id, s => ['finished', 'failed', 'cancelled'].includes(s.status), 90_000)
  if (status.status !== 'finished') throw new Error(`${String(body.workflow)} ended ${status.status}: ${status.error}`)
  const output = status.outputs[0]
  const res = await fetch(`${sys.baseUrl}${output.url}`)
  if (res.status !== 200) throw new Error(`GET ${output.url}: ${res.status}`)
  return { status, output, data: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') }
}
