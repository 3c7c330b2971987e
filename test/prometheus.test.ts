// GET /metrics counts what happened: submits by workflow, terminal states, submit latency, where
// status reads were answered from, event ingestion lag, queue depth and workers.
import t from 'tap'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { v7 as uuidv7 } from 'uuid'
import { createWorkerClient } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'

type Samples = Map<string, number>

/** Prometheus text exposition → `name{a="x",b="y"}` (labels sorted) → value. */
function parse (text: string): Samples {
  const samples: Samples = new Map()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) continue
    const labels = (m[2] ?? '').split(/,(?=\w+=)/).filter(Boolean).sort().join(',')
    samples.set(labels ? `${m[1]}{${labels}}` : m[1], Number(m[3]))
  }
  return samples
}

t.test('Prometheus metrics', async t => {
  // jobs of 5 s: the one cancelled on its worker must still be running when the cancel arrives, on a busy machine too
  const sys = await TestSystem.start(t, { name: 'prom', workers: 1, workerEnv: { BUILTIN_STEPS: '20', BUILTIN_STEP_MS: '250' } })
  await sys.waitForWorkersConnected()
  const scrape = async () => {
    const res = await fetch(`${sys.baseUrl}/metrics`)
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/)
    return parse(await res.text())
  }
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })

  // three jobs that finish
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await sys.submit({ prompt: `counted ${i}` })).body.job_id)
  for (const id of ids) await sys.waitForStatus(id, s => s.status === 'finished', 120_000)

  // one that fails: a committed job that already ran MAX_ATTEMPTS (3) times before its queue entry was
  // made again (a job no worker can run would wait for one instead of failing)
  const failing = uuidv7()
  const params = { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }
  await sys.db.pool.query('INSERT INTO jobs (id, workflow, model, prompt, params, attempts) VALUES (?, ?, ?, ?, ?, 3)', [failing, 'text_to_image', 'turbo_fp8', 'fails', JSON.stringify(params)])
  await queue.add('generate', { job_id: failing, workflow: 'text_to_image', model: 'turbo_fp8', prompt: 'fails', params, prior_attempts: 3 }, { jobId: failing })

  // one that is cancelled on the worker while it runs
  const cancelled = (await sys.submit({ prompt: 'cancelled midway' })).body.job_id
  await sys.workers[0].waitForLog(l => l.job_id === cancelled && l.msg === 'job started')
  const client = createWorkerClient(`127.0.0.1:${sys.workerPorts[0]}`)
  await new Promise((resolve, reject) => client.CancelJob({ job_id: cancelled, reason: 'test' }, { deadline: Date.now() + 2000 }, (err, res) => err ? reject(err) : resolve(res)))
  client.close()
  await sys.waitForStatus(cancelled, s => s.status === 'cancelled')
  await sys.waitForStatus(failing, s => s.status === 'failed')

  // status reads: two from the cache, one from the database
  const before = await scrape()
  await sys.status(ids[0])
  await sys.status(ids[1])
  await redis.del(`job:status:${ids[2]}`)
  t.equal((await sys.status(ids[2])).body.source, 'database')
  const m = await scrape()

  t.equal(m.get('comfy_jobs_submitted_total{workflow="text_to_image"}'), 4, 'four submits through the API (the failing one was written directly)')
  t.equal(m.get('comfy_jobs_ended_total{status="finished",workflow="text_to_image"}'), 3, 'three finished')
  t.equal(m.get('comfy_jobs_ended_total{status="failed",workflow="text_to_image"}'), 1, 'one failed')
  t.equal(m.get('comfy_jobs_ended_total{status="cancelled",workflow="text_to_image"}'), 1, 'one cancelled')
  t.equal(m.get('comfy_jobs_submit_duration_seconds_count{workflow="text_to_image"}'), 4, 'a latency sample per accepted submit')
  t.ok(m.get('comfy_jobs_submit_duration_seconds_sum{workflow="text_to_image"}')! > 0)
  t.equal(m.get('comfy_jobs_submit_duration_seconds_bucket{le="+Inf",workflow="text_to_image"}'), 4)
  const reads = (source: string, s: Samples) => s.get(`comfy_jobs_status_reads_total{source="${source}"}`) ?? 0
  t.equal(reads('redis', m) - reads('redis', before), 2, 'two status reads answered from Redis')
  t.equal(reads('database', m) - reads('database', before), 1, 'one answered from the database')
  const lagCount = (kind: string) => m.get(`comfy_jobs_event_ingest_lag_seconds_count{kind="${kind}"}`) ?? 0
  t.equal(lagCount('finished'), 3, 'ingestion lag measured for every finished event')
  t.ok(lagCount('progress') >= 12, `and for progress events (${lagCount('progress')})`)
  const lagSum = m.get('comfy_jobs_event_ingest_lag_seconds_sum{kind="progress"}')!
  // in seconds, not milliseconds: a mean of a minute would be a unit slip, not a slow machine
  t.ok(lagSum >= 0 && lagSum / lagCount('progress') < 60, `a plausible mean lag (${(lagSum / lagCount('progress') * 1000).toFixed(1)} ms)`)
  t.equal(m.get('comfy_jobs_queue_consumers'), 1, 'one worker consumes the queue')
  t.equal(m.get('comfy_jobs_worker_streams{state="connected"}'), 1, 'one worker stream connected')
  t.equal(m.get('comfy_jobs_queue_depth{state="waiting"}'), 0)
  t.equal(m.get('comfy_jobs_queue_depth{state="active"}'), 0)
  t.ok(m.has('comfy_jobs_gateway_process_cpu_user_seconds_total'), 'process metrics too')

  // the queue depth follows the queue: stop the worker and queue two jobs
  await sys.workers[0].kill('SIGKILL')
  await sys.submit({ prompt: 'waits 1' })
  await sys.submit({ prompt: 'waits 2' })
  const later = await scrape()
  t.equal(later.get('comfy_jobs_queue_depth{state="waiting"}'), 2, 'two waiting')
  const api = await (await fetch(`${sys.baseUrl}/api/metrics`)).json() as any
  t.same(api, { queue_length: 2, worker_status: 'offline', active_jobs: 0 }, '/api/metrics agrees, and the worker is gone')
})
