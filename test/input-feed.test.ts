// The input feed when links die: a worker that takes a job while no gateway feeds it waits for one
// and runs the job once a gateway is back; an input that no
// gateway has any more fails the job, naming it, instead of waiting for ever.
import { createHash } from 'node:crypto'
import { mkdtemp, mkdir, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { png } from './helpers/media-files.ts'

const workflowsDir = await mkdtemp(join(tmpdir(), 'cj-feed-templates-'))
const uploadDir = await mkdtemp(join(tmpdir(), 'cj-feed-uploads-'))
t.teardown(() => Promise.all([rm(workflowsDir, { recursive: true, force: true }), rm(uploadDir, { recursive: true, force: true })]))
await mkdir(join(workflowsDir, 'edit_passthrough'))
await writeFile(join(workflowsDir, 'edit_passthrough', 'graph.json'), JSON.stringify({
  1: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
  2: { class_type: 'LoadImage', inputs: { image: 'example.png' } },
  3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'feed/edit' } }
}))
await writeFile(join(workflowsDir, 'edit_passthrough', 'manifest.json'), JSON.stringify({
  prompt: 'none',
  media: { input: { kind: 'image', target: { node: '2', input: 'image' } } },
  inputs: { model: { node: '1', input: 'ckpt_name' } },
  models: { sd15: { file: 'v1-5-pruned-emaonly.safetensors' } },
  outputs: ['3']
}))

const fake = new FakeComfyUI({ stepMs: 1, nodeMs: 1, models: { checkpoints: ['v1-5-pruned-emaonly.safetensors'] } })
await fake.start()
t.teardown(() => fake.stop())
const sys = await TestSystem.start(t, {
  name: 'input_feed',
  workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200', WORKFLOWS_DIR: workflowsDir },
  gatewayEnv: { UPLOAD_DIR: uploadDir }
})
await sys.waitForWorkersConnected()

const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

async function upload (bytes: Buffer): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), 'photo')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
  const { name } = await res.json() as { name: string }
  if (name !== `${createHash('sha256').update(bytes).digest('hex')}.png`) throw new Error(`upload answered ${name}`)
  return name
}

t.test('with no gateway feeding it, the worker waits; a gateway back feeds it; a file none has fails its job', async t => {
  const shot = png(16, 16, 5)
  const lost = png(12, 12, 6)
  const name = await upload(shot)
  const lostName = await upload(lost)
  await sys.workers[0].kill('SIGTERM')
  const waits = await sys.submit({ workflow: 'edit_passthrough', inputs: { input: name } })
  const fails = await sys.submit({ workflow: 'edit_passthrough', inputs: { input: lostName } })
  t.same([waits.status, fails.status], [200, 200])
  await sys.gateway!.kill('SIGTERM')
  await unlink(join(uploadDir, lostName)) // gone before any worker asked for it
  const worker = await sys.startWorker(0)
  await worker.waitForLog(l => l.msg === 'job started' && l.job_id === waits.body.job_id)
  await new Promise(resolve => setTimeout(resolve, 500))
  t.notOk(fake.seen('POST', '/prompt').some(r => r.body.prompt_id === waits.body.job_id), 'taken, but nothing reaches ComfyUI without its input')
  await sys.startGateway()
  const done = await sys.waitForStatus(waits.body.job_id, isEnd, 60_000)
  t.equal(done.status, 'finished', done.error ?? '')
  t.ok(worker.logs.some(l => l.msg === 'input feed attached'), 'it ran once a gateway fed the worker')
  t.ok(fake.inputFile(name)?.equals(shot), 'and ComfyUI got the input')
  t.equal(fake.seen('POST', '/prompt').filter(r => r.body.prompt_id === waits.body.job_id).length, 1, 'queued in ComfyUI once')
  const failed = await sys.waitForStatus(fails.body.job_id, isEnd, 60_000)
  t.equal(failed.status, 'failed')
  t.match(failed.error, new RegExp(`input ${lostName} is on none of the 1 gateway`))
  t.notOk(fake.seen('POST', '/prompt').some(r => r.body.prompt_id === fails.body.job_id), 'nothing reached ComfyUI')
})
