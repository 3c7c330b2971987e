// Processes dying under a ComfyUI job, against a real ComfyUI 0.8.0: ComfyUI restarted mid-run (its
// queue and history are gone: the job fails saying so), and the worker killed mid-run (the job runs
// again on the next worker, which adopts the run ComfyUI still has instead of queueing it twice).
import t from 'tap'
import { join } from 'node:path'
import { TestSystem } from './helpers/system.ts'
import { RealComfyUI } from './helpers/real-comfyui.ts'

const WORKFLOWS_DIR = join(import.meta.dirname, 'fixtures', 'comfyui-real')
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

const comfy = await RealComfyUI.start(t)
const sys = await TestSystem.start(t, {
  name: 'comfy_real_crash',
  workerEnv: {
    ENGINE: 'comfyui',
    COMFYUI_URL: comfy.url,
    COMFYUI_POLL_MS: '200',
    WORKFLOWS_DIR,
    // a restart of ComfyUI (seconds) is not an outage that fails the job; a dead worker's job is taken over quickly
    COMFYUI_GIVE_UP_MS: '120000',
    LOCK_DURATION_MS: '2000'
  },
  gatewayEnv: { PROGRESS_DB_INTERVAL_MS: '600000' }
})
await sys.waitForWorkersConnected()

async function slowJobRunning (seed: number): Promise<string> {
  const res = await sys.submit({ prompt: 'three slow blurs', workflow: 'real_slow', model: 'bilinear', seed })
  if (res.status !== 200) throw new Error(JSON.stringify(res.body))
  await sys.waitForStatus(res.body.job_id, s => s.status === 'processing' && s.node === 'ImageBlur', 60_000)
  return res.body.job_id
}

t.test('ComfyUI restarted mid-run: the job fails saying ComfyUI lost the prompt, keeping its progress; the next job runs', async t => {
  const id = await slowJobRunning(0x102030)
  await comfy.restart()
  const done = await sys.waitForStatus(id, isEnd, 60_000)
  t.equal(done.status, 'failed')
  t.match(done.error, new RegExp(`ComfyUI lost prompt ${id}: it is in neither /history nor /queue`))
  const row = await sys.row(id)
  t.same({ status: row.status, progress: row.progress }, { status: 'failed', progress: done.progress }, 'the database keeps the progress the status shows')
  t.ok(row.progress > 0)

  const next = await sys.submit({ prompt: 'after the restart', workflow: 'real_image', model: 'bilinear', seed: 3 })
  t.equal((await sys.waitForStatus(next.body.job_id, isEnd, 60_000)).status, 'finished', 'the restarted ComfyUI runs the next job')
})

t.test('the worker killed mid-run: the next worker adopts the run ComfyUI still has; ComfyUI runs the prompt once', async t => {
  const id = await slowJobRunning(0x405060)
  const killedAt = Date.now()
  await sys.workers[0].kill('SIGKILL')
  const worker = await sys.startWorker(0)
  const done = await sys.waitForStatus(id, isEnd, 90_000)
  t.equal(done.status, 'finished', done.error ?? '')
  const adopted = await worker.waitForLog(l => l.job_id === id && l.msg === 'ComfyUI already has this prompt; following that run instead of queueing it again')
  t.ok(['queue', 'history'].includes(adopted.found_in), `found in ComfyUI's ${adopted.found_in}`)
  const history = (await comfy.get(`/history/${id}`)).json[id]
  const start = history.status.messages.find((m: any[]) => m[0] === 'execution_start')[1]
  t.ok(start.timestamp < killedAt, 'the run ComfyUI finished is the one that started before the kill')
  t.same(history.status.messages.find((m: any[]) => m[0] === 'execution_cached')[1].nodes, [], 'and computed every node (not a cached re-run)')
  t.same((await comfy.outputs('real')).filter(f => f.startsWith('slow')), ['slow_00001_.png'], 'one image saved')
  t.equal((await sys.row(id)).attempts, 2, 'the job ran twice as far as the queue is concerned')
})
