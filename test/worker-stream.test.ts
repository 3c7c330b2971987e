import { createHash, randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { crc32, inflateSync } from 'node:zlib'
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { BUILTIN_WORKFLOWS, type QueuedJob } from '@comfy-jobs/contracts'
import {
  WORKER_SERVICE_NAME,
  checkHealth,
  createWorkerClient,
  type Hello,
  type JobEvent,
  type WorkerServiceClient
} from '@comfy-jobs/rpc'
import { freePort, runWorkerUntilExit, startWorkerProcess, type WorkerProcess } from './helpers/worker-process.ts'

const REDIS_URL = 'redis://127.0.0.1:6379'
const STEPS = 5
const queueName = `test-worker-${randomUUID()}`

/** A test-side stand-in for the gateway's end of StreamEvents. */
class EventStream {
  readonly events: JobEvent[] = []
  readonly call: grpc.ClientDuplexStream<any, JobEvent>
  readonly epoch: string
  error: grpc.ServiceError | null = null
  /** resolves when the call is over (status received), with its error if any */
  readonly done: Promise<grpc.ServiceError | null>
  #waiters: Array<() => void> = []

  constructor (client: WorkerServiceClient, hello: Hello, epoch: string) {
    this.epoch = epoch
    this.call = client.StreamEvents()
    this.call.on('data', (event: JobEvent) => {
      this.events.push(event)
      this.#wake()
    })
    this.done = new Promise(resolve => {
      this.call.on('error', (err: grpc.ServiceError) => {
        this.error = err
        this.#wake()
        resolve(err)
      })
      this.call.on('status', () => setImmediate(() => { this.#wake(); resolve(this.error) }))
    })
    this.call.write({ hello })
  }

  #wake (): void {
    for (const fn of this.#waiters) fn()
  }

  /** Waits for an event matching pred (already received or arriving). */
  async waitFor (pred: (event: JobEvent) => boolean, what: string, timeoutMs = 60_000): Promise<JobEvent> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.events.find(pred)
      if (found) return found
      if (this.error) throw new Error(`stream failed while waiting for ${what}: ${this.error.message}`)
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map(e => [e.seq, e.kind, e.job_id.slice(0, 8)]))}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, 50)
        const waiters = this.#waiters
        function done (): void {
          clearTimeout(timer)
          waiters.splice(waiters.indexOf(done), 1)
          resolve()
        }
        waiters.push(done)
      })
    }
  }

  ack (seq: number): void {
    this.call.write({ ack: { epoch: this.epoch, seq } })
  }

  /** Half-closes and waits for the worker to end the call, i.e. to have detached the subscriber. */
  async close (): Promise<void> {
    this.call.end()
    await this.done
  }

  /** Drops the connection abruptly, as a crashing gateway would. */
  drop (): void {
    this.call.cancel()
  }
}

function newJob (overrides: Omit<Partial<QueuedJob>, 'params'> & { params?: Partial<QueuedJob['params']> } = {}): QueuedJob {
  const { params, ...rest } = overrides
  return {
    job_id: randomUUID(),
    workflow: 'text_to_image',
    model: 'turbo_fp8',
    prompt: 'a lighthouse at dusk',
    ...rest,
    params: { aspect_ratio: '1:1', width: 96, height: 64, seed: 7, batch_size: 1, ...params }
  }
}

function seqRange (from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

function sha256 (data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Checks signature, chunk CRCs and that IDAT inflates to the size IHDR promises; returns IHDR and text chunks. */
function parsePng (png: Buffer): { width: number, height: number, text: Record<string, string> } {
  if (!png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) throw new Error('no PNG signature')
  let offset = 8
  let width = 0
  let height = 0
  const idat: Buffer[] = []
  const text: Record<string, string> = {}
  const types: string[] = []
  while (offset < png.length) {
    const length = png.readUInt32BE(offset)
    const type = png.toString('latin1', offset + 4, offset + 8)
    const data = png.subarray(offset + 8, offset + 8 + length)
    if (png.readUInt32BE(offset + 8 + length) !== crc32(png.subarray(offset + 4, offset + 8 + length))) throw new Error(`bad CRC in ${type}`)
    types.push(type)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      if (data[8] !== 8 || data[9] !== 2) throw new Error('expected 8-bit RGB')
    } else if (type === 'IDAT') {
      idat.push(data)
    } else if (type === 'tEXt') {
      const nul = data.indexOf(0)
      text[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1)
    }
    offset += 12 + length
  }
  if (types[0] !== 'IHDR' || types.at(-1) !== 'IEND') throw new Error(`bad chunk order ${types.join(',')}`)
  const raw = inflateSync(Buffer.concat(idat))
  if (raw.length !== (width * 3 + 1) * height) throw new Error(`IDAT inflates to ${raw.length} bytes, expected ${(width * 3 + 1) * height}`)
  return { width, height, text }
}

let worker: WorkerProcess | undefined
let client: WorkerServiceClient | undefined
const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
const queue = new Queue(queueName, { connection })

t.teardown(async () => {
  client?.close()
  if (worker) await worker.stop(3000)
  await queue.obliterate({ force: true })
  await queue.close()
  await connection.quit()
})

worker = await startWorkerProcess({
  REDIS_URL,
  QUEUE_NAME: queueName,
  WORKER_GRPC_HOST: '127.0.0.1',
  WORKER_GRPC_PORT: String(await freePort()),
  WORKER_ID: 'test-worker-1',
  ENGINE: 'builtin',
  BUILTIN_STEPS: String(STEPS),
  BUILTIN_STEP_MS: '30',
  WORKER_CONCURRENCY: '1',
  SHUTDOWN_GRACE_MS: '5000',
  LOG_LEVEL: 'info'
})
const w = worker
const rpc = client = createWorkerClient(w.address)

/** What the test-side gateway has acked so far, to resume from. */
let acked = 0

async function openStream (hello: Partial<Hello> = {}): Promise<EventStream> {
  return new EventStream(rpc, { gateway_id: 'test-gateway', epoch: w.epoch, acked_seq: acked, ...hello }, w.epoch)
}

/** A fresh stream right after an abrupt drop may still find the old one attached; retry as a gateway would. */
async function reopenStream (hello: Partial<Hello>): Promise<EventStream> {
  for (let i = 0; ; i++) {
    const stream = await openStream(hello)
    await Promise.race([stream.done, sleep(100)])
    if (stream.error?.code !== grpc.status.ALREADY_EXISTS) return stream
    if (i > 20) throw new Error('stream kept getting ALREADY_EXISTS')
    await sleep(50)
  }
}

function ackUpTo (stream: EventStream, seq: number): void {
  stream.ack(seq)
  acked = Math.max(acked, seq)
}

async function enqueue (job: QueuedJob): Promise<void> {
  await queue.add('generate', job, { jobId: job.job_id })
}

async function waitForState (jobId: string, state: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    last = await queue.getJobState(jobId)
    if (last === state) return
    await sleep(25)
  }
  throw new Error(`job ${jobId} is ${last}, expected ${state}`)
}

async function getOutput (jobId: string, name: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  const call = rpc.GetOutput({ job_id: jobId, name })
  for await (const chunk of call) chunks.push(chunk.data)
  return Buffer.concat(chunks)
}

async function cancelJob (jobId: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    rpc.CancelJob({ job_id: jobId, reason: 'test' }, {}, (err, res) => err ? reject(err) : resolve(res!.state))
  })
}

let firstPng: Buffer | undefined
let firstSha = ''
const FOX = { prompt: 'a red fox in the snow', params: { width: 160, height: 96, seed: 42 } }

t.test('(h) health and info', async t => {
  t.equal(await checkHealth(w.address), 'SERVING')
  t.equal(await checkHealth(w.address, WORKER_SERVICE_NAME), 'SERVING')
  const info = await new Promise<any>((resolve, reject) => rpc.GetInfo({}, {}, (err, res) => err ? reject(err) : resolve(res)))
  t.match(info, {
    worker_id: 'test-worker-1',
    epoch: w.epoch,
    engine: 'builtin',
    concurrency: 1,
    running: 0,
    ready: true
  })
  t.same(info.workflows, [...BUILTIN_WORKFLOWS], 'every shipped workflow')
  t.same(info.models, ['turbo_fp8', 'z_image_turbo'])
})

t.test('(a, b) events of one job, its output, and completion only after the ack', async t => {
  const stream = await openStream({ epoch: '', acked_seq: 0 })
  const job = newJob(FOX)
  await enqueue(job)
  const finished = await stream.waitFor(e => e.job_id === job.job_id && e.kind === 'FINISHED', 'FINISHED')
  const events = stream.events
  t.same(events.map(e => e.seq), seqRange(1, events.length), 'seq is gap-free from 1')
  t.same(events.map(e => e.kind), ['STARTED', ...Array(STEPS).fill('PROGRESS'), 'FINISHED'])
  t.ok(events.every(e => e.epoch === w.epoch && e.worker_id === 'test-worker-1' && e.job_id === job.job_id && e.at_ms > 0))
  t.match(events[0], { attempt: 1, engine: 'builtin', total_steps: STEPS })
  const progress = events.filter(e => e.kind === 'PROGRESS')
  t.same(progress.map(e => e.step), seqRange(1, STEPS), 'steps 1..N')
  t.ok(progress.every(e => e.total_steps === STEPS))
  t.ok(progress.every((e, i) => i === 0 || e.progress > progress[i - 1].progress), 'progress increases')
  t.equal(progress.at(-1)!.progress, 100)
  t.equal(finished.outputs.length, 1)
  const out = finished.outputs[0]
  t.match(out, { name: `${job.job_id}_0.png`, index: 0, kind: 'image', mime: 'image/png', width: 160, height: 96, duration_ms: 0, frames: 0 })
  t.match(out.sha256, /^[0-9a-f]{64}$/)
  t.match(JSON.parse(finished.metadata_json), { renderer: 'builtin', kind: 'test-pattern' })

  await sleep(300)
  t.equal(await queue.getJobState(job.job_id), 'active', 'not completed while FINISHED is unacked')

  const png = await getOutput(job.job_id, out.name)
  t.equal(png.length, out.bytes)
  t.equal(sha256(png), out.sha256, 'bytes match the sha256 of the event')
  const parsed = parsePng(png)
  t.equal(parsed.width, 160)
  t.equal(parsed.height, 96)
  t.equal(parsed.text.Software, 'comfy-jobs builtin renderer (test patterns and simple image operations, not a diffusion model)')
  firstPng = png
  firstSha = out.sha256

  ackUpTo(stream, finished.seq - 1)
  await sleep(200)
  t.equal(await queue.getJobState(job.job_id), 'active', 'acking up to PROGRESS is not enough')

  ackUpTo(stream, finished.seq)
  await waitForState(job.job_id, 'completed')
  t.match((await queue.getJob(job.job_id))!.returnvalue, { status: 'finished', seq: finished.seq })
  await t.rejects(getOutput(job.job_id, out.name), { code: grpc.status.NOT_FOUND }, 'output freed after the ack')
  await stream.close()
})

t.test('(e) same prompt and seed give the same bytes, another seed other bytes', async t => {
  const stream = await openStream()
  const same = newJob(FOX)
  const other = newJob({ ...FOX, params: { ...FOX.params, seed: 43, batch_size: 2 } })
  await enqueue(same)
  await enqueue(other)

  const sameDone = await stream.waitFor(e => e.job_id === same.job_id && e.kind === 'FINISHED', 'FINISHED of the repeat')
  t.equal(sameDone.outputs[0].sha256, firstSha)
  t.ok((await getOutput(same.job_id, sameDone.outputs[0].name)).equals(firstPng!), 'byte-identical PNG')
  ackUpTo(stream, sameDone.seq)

  const otherDone = await stream.waitFor(e => e.job_id === other.job_id && e.kind === 'FINISHED', 'FINISHED of the batch')
  t.same(otherDone.outputs.map(o => [o.index, o.name]), [[0, `${other.job_id}_0.png`], [1, `${other.job_id}_1.png`]])
  t.not(otherDone.outputs[0].sha256, firstSha, 'seed 43 differs from seed 42')
  t.not(otherDone.outputs[0].sha256, otherDone.outputs[1].sha256, 'batch images differ')
  const second = await getOutput(other.job_id, otherDone.outputs[1].name)
  t.equal(sha256(second), otherDone.outputs[1].sha256)
  ackUpTo(stream, otherDone.seq)
  await waitForState(other.job_id, 'completed')
  await stream.close()
})

t.test('(c) a dropped stream resumes after the acked seq, then goes live', async t => {
  const first = await openStream()
  const d = newJob({ prompt: 'resume me' })
  const e = newJob({ prompt: 'after the resume' })
  await enqueue(d)
  await enqueue(e)
  await first.waitFor(ev => ev.job_id === d.job_id && ev.kind === 'PROGRESS' && ev.step === 2, 'PROGRESS step 2')
  const started = first.events.find(ev => ev.job_id === d.job_id && ev.kind === 'STARTED')!
  t.equal(started.seq, acked + 1, 'continues the seq of this epoch')
  const K = started.seq + 1
  first.drop()
  await sleep(250) // the job finishes meanwhile; its events wait in the log

  // A gateway that lost its place (other epoch) gets every unacked event.
  const lost = await reopenStream({ epoch: 'some-earlier-boot', acked_seq: 999 })
  const lostDone = await lost.waitFor(ev => ev.job_id === d.job_id && ev.kind === 'FINISHED', 'FINISHED replayed to an unknown epoch')
  t.same(lost.events.map(ev => ev.seq), seqRange(started.seq, lostDone.seq))
  await lost.close()

  const resumed = await reopenStream({ epoch: w.epoch, acked_seq: K })
  const dDone = await resumed.waitFor(ev => ev.job_id === d.job_id && ev.kind === 'FINISHED', 'FINISHED of the resumed job')
  t.same(resumed.events.map(ev => ev.seq), seqRange(K + 1, dDone.seq), 'exactly the events after K, no gaps, no repeats')
  for (const ev of resumed.events) {
    const seen = first.events.find(f => f.seq === ev.seq)
    if (seen) t.same(ev, seen, `replayed seq ${ev.seq} is the same event`)
  }
  t.same(resumed.events.filter(ev => ev.kind === 'PROGRESS').map(ev => ev.step), seqRange(2, STEPS), "replayed progress resumes at step 2")
  t.equal(await queue.getJobState(e.job_id), 'waiting', 'next job waits while the previous terminal event is unacked')

  ackUpTo(resumed, dDone.seq)
  await waitForState(d.job_id, 'completed')
  const eDone = await resumed.waitFor(ev => ev.job_id === e.job_id && ev.kind === 'FINISHED', 'live FINISHED of the next job')
  t.same(resumed.events.map(ev => ev.seq), seqRange(K + 1, eDone.seq), 'live events follow the replay without a gap')
  t.same(resumed.events.filter(ev => ev.job_id === e.job_id).map(ev => ev.kind), ['STARTED', ...Array(STEPS).fill('PROGRESS'), 'FINISHED'])
  ackUpTo(resumed, eDone.seq)
  await waitForState(e.job_id, 'completed')
  await resumed.close()
})

t.test('(d) a second concurrent StreamEvents gets ALREADY_EXISTS', async t => {
  const holder = await openStream()
  const job = newJob({ prompt: 'lease' })
  await enqueue(job)
  // An event on the holder proves it is the attached subscriber.
  await holder.waitFor(e => e.job_id === job.job_id && e.kind === 'STARTED', 'STARTED on the holder')
  const second = await openStream()
  const err = await second.done
  t.equal(err?.code, grpc.status.ALREADY_EXISTS)
  t.match(err?.details, /already streaming/)
  t.notOk(second.events.length, 'the rejected stream got no events')
  const done = await holder.waitFor(e => e.job_id === job.job_id && e.kind === 'FINISHED', 'FINISHED on the holder')
  t.equal(holder.error, null, 'the first stream is untouched')
  ackUpTo(holder, done.seq)
  await waitForState(job.job_id, 'completed')
  await holder.close()
  const third = await openStream()
  await sleep(100)
  t.equal(third.error, null, 'the lease is free again once the holder left')
  await third.close()
})

t.test('(f) cancel and failure are events; the queue job completes after their ack', async t => {
  const stream = await openStream()
  t.equal(await cancelJob(randomUUID()), 'unknown')

  const running = newJob({ prompt: 'cancel me' })
  await enqueue(running)
  await stream.waitFor(e => e.job_id === running.job_id && e.kind === 'STARTED', 'STARTED')
  t.equal(await cancelJob(running.job_id), 'running')
  const cancelled = await stream.waitFor(e => e.job_id === running.job_id && e.kind === 'CANCELLED', 'CANCELLED')
  t.equal(cancelled.error, 'cancelled')
  t.notOk(stream.events.some(e => e.job_id === running.job_id && e.kind === 'FINISHED'))
  t.ok(stream.events.filter(e => e.job_id === running.job_id && e.kind === 'PROGRESS').length < STEPS, 'stopped early')
  ackUpTo(stream, cancelled.seq)
  await waitForState(running.job_id, 'completed')
  t.match((await queue.getJob(running.job_id))!.returnvalue, { status: 'cancelled' })

  const held = newJob({ prompt: 'held' })
  await enqueue(held)
  const heldDone = await stream.waitFor(e => e.job_id === held.job_id && e.kind === 'FINISHED', 'FINISHED of held')
  t.equal(await cancelJob(held.job_id), 'held', 'finished but unacked')
  ackUpTo(stream, heldDone.seq)
  await waitForState(held.job_id, 'completed')
  t.equal(await cancelJob(held.job_id), 'unknown')

  // a job this worker cannot run is not failed here: it goes back to the queue, for a worker that can
  const unsupported = newJob({ model: 'sdxl_base' })
  await enqueue(unsupported)
  for (let i = 0; !w.logs.some(l => l.job_id === unsupported.job_id && /does not run its workflow with its model; job goes back to the queue/.test(l.msg)); i++) {
    if (i > 600) throw new Error('the worker never handed back the job it cannot run')
    await sleep(100)
  }
  t.pass('a job with a model this worker does not have goes back to the queue')
  t.notOk(stream.events.some(e => e.job_id === unsupported.job_id), 'without an event: it did not run here')
  for (let i = 0; await queue.remove(unsupported.job_id) !== 1; i++) { // it may be in a hand-out right now
    if (i > 600) throw new Error('the job this worker cannot run could not be removed')
    await sleep(100)
  }

  // a failure is an event too: a job that already ran MAX_ATTEMPTS (3) times is failed without running
  const exhausted = newJob({ prompt: 'ran too often', prior_attempts: 3 })
  await enqueue(exhausted)
  const failed = await stream.waitFor(e => e.job_id === exhausted.job_id && e.kind === 'FAILED', 'FAILED')
  t.match(failed.error, /MAX_ATTEMPTS/)
  ackUpTo(stream, failed.seq)
  await waitForState(exhausted.job_id, 'completed')
  t.match((await queue.getJob(exhausted.job_id))!.returnvalue, { status: 'failed' })
  await stream.close()
})

t.test('(g) a bad environment value stops the process with a message naming it', async t => {
  const [concurrency, engine] = await Promise.all([
    runWorkerUntilExit({ QUEUE_NAME: queueName, WORKER_GRPC_PORT: String(await freePort()), WORKER_CONCURRENCY: 'abc' }),
    runWorkerUntilExit({ QUEUE_NAME: queueName, WORKER_GRPC_PORT: String(await freePort()), ENGINE: 'dalle' })
  ])
  t.not(concurrency.code, 0)
  t.match(concurrency.output, /WORKER_CONCURRENCY="abc"/)
  t.not(engine.code, 0)
  t.match(engine.output, /ENGINE="dalle": expected one of builtin, comfyui/)
})

t.test('SIGTERM keeps serving until the running job\'s terminal event is acked', async t => {
  const stream = await openStream()
  const job = newJob({ prompt: 'last one' })
  await enqueue(job)
  const done = await stream.waitFor(e => e.job_id === job.job_id && e.kind === 'FINISHED', 'FINISHED')
  w.child.kill('SIGTERM')
  await sleep(400)
  t.equal(w.child.exitCode, null, 'still running while the FINISHED event is unacked')
  t.equal(await queue.getJobState(job.job_id), 'active')
  const png = await getOutput(job.job_id, done.outputs[0].name)
  t.equal(sha256(png), done.outputs[0].sha256, 'outputs still served during the drain')
  ackUpTo(stream, done.seq)
  const exit = await w.exited
  t.same(exit, { code: 0, signal: null }, 'exits cleanly once drained')
  t.equal(await queue.getJobState(job.job_id), 'completed')
  await stream.done
})
