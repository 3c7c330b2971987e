// Workers that run different workflows: each job goes only to a worker that runs its workflow with
// its model; one that no live worker can run waits (its record says why) instead of failing on the
// wrong worker; and a capable worker that dies mid-job loses nothing.
import t from 'tap'
import { Redis } from 'ioredis'
import { capabilityQueueName, capabilityQueuesKey, parseCapabilityQueueName, statusKey } from '@comfy-jobs/contracts'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { freePort } from './helpers/ports.ts'
import { loadConfig } from '../services/worker/src/config.ts'

async function until<T> (what: string, probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (pred(v)) return v
    if (Date.now() > deadline) throw new Error(`${what}: never; last ${JSON.stringify(v)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

t.test('capability queue names round-trip, whatever the model name holds', async t => {
  for (const [workflow, model] of [['text_to_image', 'turbo_fp8'], ['x', 'sub/dir/v1.5:final@2.safetensors'], ['a', '']]) {
    const name = capabilityQueueName('comfy-jobs', workflow, model)
    t.notOk(name.includes(':'), `${name}: no ':' (BullMQ refuses it)`)
    t.same(parseCapabilityQueueName('comfy-jobs', name), { workflow, model })
  }
  t.equal(parseCapabilityQueueName('comfy-jobs', 'other@a@b'), null, 'another queue\'s name is not ours')
  t.same(loadConfig({ WORKER_WORKFLOWS: 'text_to_image, upscale' }, { workerId: 'w' }).workflows, ['text_to_image', 'upscale'])
  t.throws(() => loadConfig({ WORKER_WORKFLOWS: 'a b' }, { workerId: 'w' }), /Invalid WORKER_WORKFLOWS="a b": expected a comma list of workflow names/)
})

t.test('jobs go only to capable workers; with none live they wait, saying why; a death mid-job loses nothing', async t => {
  const sys = await TestSystem.start(t, { name: 'caps', workers: 0, gatewayEnv: { WORKER_ADDRESSES: '' } })
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())
  sys.workerPorts.push(await freePort(), await freePort())
  const imageEnv = { WORKER_WORKFLOWS: 'text_to_image' }
  const videoEnv = { WORKER_WORKFLOWS: 'text_to_video', BUILTIN_STEPS: '8', BUILTIN_STEP_MS: '400', LOCK_DURATION_MS: '3000' }
  await sys.startWorker(0, imageEnv)
  await sys.startWorker(1, videoEnv)
  await until('both workers linked', () => fetch(`${sys.baseUrl}/api/health`).then(r => r.json()), (h: any) => h.workers.connected === 2)

  const images: string[] = []
  const videos: string[] = []
  for (let i = 0; i < 3; i++) {
    images.push((await sys.submit({ prompt: `image ${i}`, workflow: 'text_to_image', seed: i })).body.job_id)
    videos.push((await sys.submit({ prompt: `video ${i}`, workflow: 'text_to_video', seed: i })).body.job_id)
  }
  t.ok([...images, ...videos].every(id => typeof id === 'string'), 'all six accepted')
  const queues = await redis.smembers(capabilityQueuesKey(sys.queueName))
  t.same(queues.map(q => parseCapabilityQueueName(sys.queueName, q)?.workflow).sort(), ['text_to_image', 'text_to_video'], 'each went to its workflow\'s queue')

  // the video worker dies in the middle of a video job
  const victim = await sys.workers[1].waitForLog(l => l.msg === 'job started', 60_000)
  await sys.waitForStatus(victim.job_id, s => s.status === 'processing' && s.progress > 0)
  sys.workers[1].child.kill('SIGKILL')
  await sys.workers[1].exited
  const stranded = (await sys.submit({ prompt: 'video after the death', workflow: 'text_to_video' })).body.job_id
  videos.push(stranded)

  const record = await until('the stranded job says why it waits', () => fetch(`${sys.baseUrl}/api/jobs/${stranded}`).then(r => r.json()), (r: any) => r.waiting_reason !== undefined, 30_000)
  t.equal(record.status, 'queued', 'it waits, queued')
  t.match(record.waiting_reason, /text_to_video/, `and its record says why: ${record.waiting_reason}`)
  const status = await fetch(`${sys.baseUrl}/api/status/${stranded}`).then(r => r.json()) as any
  t.match(status, { status: 'queued', source: 'redis', waiting_reason: record.waiting_reason }, 'its status (from Redis) says why too')
  const jobs = new JobsGrpc(sys.grpcAddress)
  t.teardown(() => jobs.close())
  t.match(await jobs.call('GetStatus', { job_id: stranded }), { status: 'JOB_STATUS_QUEUED', waiting_reason: record.waiting_reason }, 'and so does gRPC GetStatus')
  // a hash written before it carried the model: the answer comes from the row, still saying why
  await redis.hdel(statusKey(stranded), 'model')
  const fromRow = await fetch(`${sys.baseUrl}/api/status/${stranded}`).then(r => r.json()) as any
  t.match(fromRow, { status: 'queued', source: 'database', waiting_reason: record.waiting_reason }, 'a status from the database says why too')
  const running = await fetch(`${sys.baseUrl}/api/status/${images[0]}`).then(r => r.json()) as any
  t.equal(running.waiting_reason, undefined, `a job a live worker can run says nothing of waiting (${running.status})`)
  for (const id of images) t.equal((await sys.waitForStatus(id, s => s.status === 'finished' || s.status === 'failed')).status, 'finished', `image ${id.slice(-6)} finished meanwhile`)
  t.equal((await sys.row(stranded)).status, 'queued', 'the image worker never took the video job')

  await sys.startWorker(1, videoEnv)
  for (const id of videos) {
    const s = await sys.waitForStatus(id, s => s.status === 'finished' || s.status === 'failed', 120_000)
    t.equal(s.status, 'finished', `video ${id.slice(-6)} finished${id === victim.job_id ? ' (the one whose worker died)' : ''}`)
  }
  for (const id of images) t.equal((await sys.row(id)).worker_id, 'caps-w0', `image ${id.slice(-6)} ran on the image worker`)
  for (const id of videos) t.equal((await sys.row(id)).worker_id, 'caps-w1', `video ${id.slice(-6)} ran on the video worker`)
  t.equal((await sys.row(victim.job_id)).attempts, 2, 'the job whose worker died ran twice, counted')
  const wrong = [...sys.workers[0].logs].filter(l => l.msg === 'job started' && videos.includes(l.job_id))
  t.same(wrong, [], 'no video job was ever handed to the image worker')
  const record2 = await fetch(`${sys.baseUrl}/api/jobs/${stranded}`).then(r => r.json()) as any
  t.equal(record2.waiting_reason, undefined, 'a job that ran no longer says it waits')
  const status2 = await fetch(`${sys.baseUrl}/api/status/${stranded}`).then(r => r.json()) as any
  t.equal(status2.waiting_reason, undefined, 'nor does its status')
  t.equal((await jobs.call('GetStatus', { job_id: stranded })).waiting_reason, undefined, 'nor GetStatus')
})
