import { createHash } from 'node:crypto'
import { DelayedError, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { QueuedJob } from '@comfy-jobs/contracts'
import type { OutputFile } from '@comfy-jobs/rpc'
import type { Engine } from './engines/engine.ts'
import type { EventInput, EventLog } from './event-log.ts'
import type { OutputStore } from './output-store.ts'

export interface ConsumerOptions {
  redisUrl: string
  queueName: string
  concurrency: number
  lockDurationMs: number
  maxAttempts: number
  engine: Engine
  events: EventLog
  outputs: OutputStore
  logger: Logger
}

/** What the BullMQ job completes with; failures and cancellations are outcomes, not BullMQ failures. */
export interface JobOutcome {
  status: 'finished' | 'failed' | 'cancelled'
  error?: string
  seq: number
}

export type CancelState = 'running' | 'held' | 'unknown'

/** How long a job taken while the engine is not ready waits before it is offered again. */
const NOT_READY_DELAY_MS = 1000

interface Execution {
  /** running: the engine works on it; held: its terminal event waits for the gateway's ack */
  state: 'running' | 'held'
  controller: AbortController
}

/**
 * Takes jobs from the queue and runs them on the engine, reporting everything as events. A job's
 * queue entry completes only after the gateway acked its terminal event, so a worker that dies
 * before that leaves the job to BullMQ's stalled-job recovery rather than losing its result.
 */
export class Consumer {
  readonly #o: ConsumerOptions
  readonly #log: Logger
  readonly #executions = new Map<string, Execution>()
  #connection: Redis | null = null
  #worker: Worker<QueuedJob, JobOutcome> | null = null
  /** while paused, no job is taken: the engine cannot run them now */
  #paused = false

  constructor (options: ConsumerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'consumer' })
  }

  get running (): number {
    return this.#executions.size
  }

  get started (): boolean {
    return this.#worker !== null
  }

  get paused (): boolean {
    return this.#paused
  }

  /** Stops taking jobs (running ones go on); they wait in the queue until resume(). */
  async pause (): Promise<void> {
    if (this.#paused) return
    this.#paused = true
    this.#log.info('paused: not taking jobs')
    await this.#worker?.pause(true)
  }

  async resume (): Promise<void> {
    if (!this.#paused) return
    this.#paused = false
    this.#log.info('resumed: taking jobs')
    await this.#worker?.resume()
  }

  async start (): Promise<void> {
    if (this.#worker !== null) return
    this.#connection = new Redis(this.#o.redisUrl, { maxRetriesPerRequest: null })
    this.#connection.on('error', err => this.#log.warn({ err: err.message }, 'redis connection error'))
    this.#worker = new Worker<QueuedJob, JobOutcome>(this.#o.queueName, (job, token) => this.#process(job, token), {
      connection: this.#connection,
      concurrency: this.#o.concurrency,
      lockDuration: this.#o.lockDurationMs,
      stalledInterval: Math.max(1000, Math.floor(this.#o.lockDurationMs / 2)),
      maxStalledCount: this.#o.maxAttempts - 1,
      autorun: !this.#paused
    })
    this.#worker.on('error', err => this.#log.error({ err: err.message }, 'queue worker error'))
    // The processor never throws, so this is BullMQ itself giving up on a job (lost lock, missing key).
    this.#worker.on('failed', (job, err) => this.#log.warn({ job_id: job?.id, err: err.message }, 'queue job failed'))
    await this.#worker.waitUntilReady()
    this.#log.info({ queue: this.#o.queueName, concurrency: this.#o.concurrency, paused: this.#paused }, 'consuming queue')
  }

  /**
   * Stops taking jobs and waits up to timeoutMs for the running ones to end (including the ack of
   * their terminal events). Returns false when it had to stop waiting; those jobs stay active in
   * the queue and BullMQ hands them to another worker once their lock expires.
   */
  async close (timeoutMs: number): Promise<boolean> {
    const worker = this.#worker
    if (worker === null) return true
    this.#worker = null
    let timer: NodeJS.Timeout | undefined
    const drained = await Promise.race([
      worker.close().then(() => true),
      new Promise<boolean>(resolve => { timer = setTimeout(resolve, timeoutMs, false) })
    ])
    clearTimeout(timer)
    if (!drained) {
      this.#log.warn({ running: [...this.#executions.keys()] }, 'jobs did not end within the grace period; leaving them to stalled-job recovery')
      // close() is still waiting for those jobs, and a second close() would only return that same promise.
      await worker.disconnect().catch(() => {})
    }
    await this.#connection?.quit().catch(() => this.#connection?.disconnect())
    this.#connection = null
    return drained
  }

  cancel (jobId: string, reason: string): CancelState {
    const execution = this.#executions.get(jobId)
    if (execution === undefined) return 'unknown'
    if (execution.state === 'held') return 'held'
    this.#log.info({ job_id: jobId, reason }, 'cancelling job')
    execution.controller.abort(new Error(reason))
    return 'running'
  }

  async #process (job: Job<QueuedJob, JobOutcome>, token?: string): Promise<JobOutcome> {
    const data = job.data
    const jobId = typeof data?.job_id === 'string' && data.job_id !== '' ? data.job_id : String(job.id)
    const log = this.#o.logger.child({ job_id: jobId })
    if (this.#paused || !this.#o.engine.ready) {
      // BullMQ can hand out a job that was already on its way when the pause began; put it back untouched.
      log.info({ delay_ms: NOT_READY_DELAY_MS }, 'engine not ready; job goes back to the queue')
      await job.moveToDelayed(Date.now() + NOT_READY_DELAY_MS, token)
      throw new DelayedError()
    }
    if (jobId !== job.id) log.warn({ bullmq_id: job.id }, 'queue job id differs from job_id in its data')
    const { engine, events, outputs } = this.#o
    const execution: Execution = { state: 'running', controller: new AbortController() }
    this.#executions.set(jobId, execution)
    try {
      // attemptsStarted also counts runs after a stall (a crashed worker), which attemptsMade does not
      const attempt = Math.max(job.attemptsStarted ?? 0, job.attemptsMade + 1)
      events.append({ job_id: jobId, kind: 'STARTED', attempt, engine: engine.name, total_steps: engine.totalSteps(data), node: '' })
      log.info({ attempt, engine: engine.name, bullmq_attempts_started: job.attemptsStarted }, 'job started')
      const terminal = await this.#execute(jobId, data, execution.controller.signal, attempt, log)
      execution.state = 'held'
      const event = events.append(terminal)
      log.info({ kind: event.kind, seq: event.seq, error: event.error || undefined }, 'job ended; waiting for the gateway to ack')
      await events.waitForAck(event.seq)
      log.info({ seq: event.seq }, 'terminal event acked')
      const status = event.kind === 'FINISHED' ? 'finished' : event.kind === 'CANCELLED' ? 'cancelled' : 'failed'
      return { status, seq: event.seq, ...(event.error !== '' ? { error: event.error } : {}) }
    } finally {
      outputs.release(jobId)
      this.#executions.delete(jobId)
    }
  }

  async #execute (jobId: string, data: QueuedJob, signal: AbortSignal, attempt: number, log: Logger): Promise<EventInput> {
    const { engine, events, outputs } = this.#o
    const base = { job_id: jobId, attempt, engine: engine.name }
    try {
      const result = await engine.run(data, {
        signal,
        logger: log,
        onProgress: p => {
          events.append({ ...base, kind: 'PROGRESS', ...p })
          log.debug(p, 'progress')
        }
      })
      signal.throwIfAborted()
      const files: OutputFile[] = result.outputs.map(output => {
        const name = `${jobId}_${output.index}.png`
        outputs.put(jobId, name, output.data)
        return {
          name,
          index: output.index,
          mime: output.mime,
          width: output.width,
          height: output.height,
          bytes: output.data.length,
          sha256: createHash('sha256').update(output.data).digest('hex')
        }
      })
      return { ...base, kind: 'FINISHED', progress: 100, outputs: files, metadata_json: JSON.stringify(result.metadata) }
    } catch (err) {
      if (signal.aborted) return { ...base, kind: 'CANCELLED', error: 'cancelled' }
      const message = err instanceof Error ? err.message : String(err)
      log.warn({ err: message }, 'job failed')
      return { ...base, kind: 'FAILED', error: message }
    }
  }
}
