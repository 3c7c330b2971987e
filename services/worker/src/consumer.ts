import { randomUUID } from 'node:crypto'
import { DelayedError, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { QueuedJob } from '@comfy-jobs/contracts'
import type { Engine } from './engines/engine.ts'
import type { EventInput, EventLog } from './event-log.ts'
import { describeOutputs } from './output-files.ts'
import type { OutputStore } from './output-store.ts'
import type { InputFetcher } from './inputs/input-fetcher.ts'
import { RunLedger } from './run-ledger.ts'

export interface ConsumerOptions {
  redisUrl: string
  queueName: string
  concurrency: number
  lockDurationMs: number
  maxAttempts: number
  /** how long a terminal event waits for its ack before the worker looks whether a gateway streams it */
  ackTimeoutMs: number
  /** true while no gateway streams this worker's events (past the grace): a job waiting for its ack then goes back */
  unstreamed: () => boolean
  /** whether this worker runs the job's workflow with its model; one it does not goes back to the queue, unrun */
  canRun: (job: QueuedJob) => boolean
  engine: Engine
  events: EventLog
  outputs: OutputStore
  inputs: InputFetcher
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
  /** the queue itself first, then the capability queues this worker consumes (addQueue) */
  readonly #workers = new Map<string, Worker<QueuedJob, JobOutcome>>()
  #closing = false
  #ledger: RunLedger | null = null
  /** while paused, no job is taken: the engine cannot run them now */
  #paused = false
  /** consuming several queues, each BullMQ worker has the whole concurrency: all stop taking while the slots are full */
  #full = false

  constructor (options: ConsumerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'consumer' })
  }

  get running (): number {
    return this.#executions.size
  }

  get started (): boolean {
    return this.#workers.size > 0 && !this.#closing
  }

  /** The queues consumed: the queue itself, then the capability queues. */
  get queues (): string[] {
    return [...this.#workers.keys()]
  }

  get paused (): boolean {
    return this.#paused
  }

  /** Stops taking jobs (running ones go on); they wait in the queue until resume(). */
  async pause (): Promise<void> {
    if (this.#paused) return
    this.#paused = true
    this.#log.info('paused: not taking jobs')
    await Promise.all([...this.#workers.values()].map(w => w.pause(true)))
  }

  async resume (): Promise<void> {
    if (!this.#paused) return
    this.#paused = false
    this.#log.info('resumed: taking jobs')
    if (!this.#full) await Promise.all([...this.#workers.values()].map(w => w.resume()))
  }

  async start (): Promise<void> {
    if (this.#workers.size > 0) return
    this.#connection = new Redis(this.#o.redisUrl, { maxRetriesPerRequest: null })
    this.#connection.on('error', err => this.#log.warn({ err: err.message }, 'redis connection error'))
    this.#ledger = new RunLedger(this.#connection, this.#o.maxAttempts)
    await this.#consume(this.#o.queueName)
    this.#log.info({ queue: this.#o.queueName, concurrency: this.#o.concurrency, paused: this.#paused }, 'consuming queue')
  }

  /** Also consumes a capability queue (one of a workflow and model this worker runs). */
  async addQueue (name: string): Promise<void> {
    if (this.#workers.has(name) || this.#connection === null || this.#closing) return
    await this.#consume(name)
    this.#log.info({ queue: name, queues: this.#workers.size }, 'consuming capability queue')
  }

  async #consume (name: string): Promise<void> {
    const worker = new Worker<QueuedJob, JobOutcome>(name, (job, token) => this.#process(job, token), {
      connection: this.#connection!,
      concurrency: this.#o.concurrency,
      lockDuration: this.#o.lockDurationMs,
      stalledInterval: Math.max(1000, Math.floor(this.#o.lockDurationMs / 2)),
      maxStalledCount: this.#o.maxAttempts - 1,
      autorun: !this.#paused && !this.#full
    })
    this.#workers.set(name, worker)
    worker.on('error', err => this.#log.error({ queue: name, err: err.message }, 'queue worker error'))
    // The processor never throws, so this is BullMQ itself giving up on a job (lost lock, missing key).
    worker.on('failed', (job, err) => this.#log.warn({ queue: name, job_id: job?.id, err: err.message }, 'queue job failed'))
    await worker.waitUntilReady()
  }

  /** Several queues: stop taking on all once the slots are full, take again once one is free. */
  async #fitSlots (): Promise<void> {
    if (this.#workers.size < 2 && !this.#full) return
    const full = this.#executions.size >= this.#o.concurrency
    if (full === this.#full) return
    this.#full = full
    const workers = [...this.#workers.values()]
    if (full) await Promise.all(workers.map(w => w.pause(true)))
    else if (!this.#paused) await Promise.all(workers.map(w => w.resume()))
  }

  /**
   * Stops taking jobs and waits up to timeoutMs for the running ones to end (including the ack of
   * their terminal events). Returns false when it had to stop waiting; those jobs stay active in
   * the queue and BullMQ hands them to another worker once their lock expires.
   */
  async close (timeoutMs: number): Promise<boolean> {
    const workers = [...this.#workers.values()]
    if (workers.length === 0 || this.#closing) return true
    this.#closing = true
    let timer: NodeJS.Timeout | undefined
    const drained = await Promise.race([
      Promise.all(workers.map(w => w.close())).then(() => true),
      new Promise<boolean>(resolve => { timer = setTimeout(resolve, timeoutMs, false) })
    ])
    clearTimeout(timer)
    if (!drained) {
      this.#log.warn({ running: [...this.#executions.keys()] }, 'jobs did not end within the grace period; leaving them to stalled-job recovery')
      // close() is still waiting for those jobs, and a second close() would only return that same promise.
      await Promise.all(workers.map(w => w.disconnect().catch(() => {})))
    }
    this.#workers.clear()
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
    const cannot = this.#paused || !this.#o.engine.ready
      ? 'engine not ready'
      : this.#executions.size >= this.#o.concurrency
        ? 'every slot is taken'
        : this.#o.canRun(data) ? null : 'this worker does not run its workflow with its model'
    if (cannot !== null) {
      // BullMQ can hand out a job that was already on its way when the pause began; put it back untouched.
      log.info({ delay_ms: NOT_READY_DELAY_MS, reason: cannot }, `${cannot}; job goes back to the queue`)
      await job.moveToDelayed(Date.now() + NOT_READY_DELAY_MS, token)
      throw new DelayedError()
    }
    if (jobId !== job.id) log.warn({ bullmq_id: job.id }, 'queue job id differs from job_id in its data')
    const { engine, events, outputs } = this.#o
    const execution: Execution = { state: 'running', controller: new AbortController() }
    this.#executions.set(jobId, execution)
    await this.#fitSlots()
    try {
      // the run is counted in the queue entry as it begins, not per hand-out: a hand-out whose worker
      // died before this point, or that went back above, was never a run
      const start = await this.#ledger!.begin(`${job.queueQualifiedName}:${job.id}`, token ?? randomUUID(), data.prior_attempts ?? 0)
      if (start.kind === 'gone') {
        log.warn('the queue no longer has the job; not run (the sweeper enqueues it again)')
        throw new Error('queue entry gone before the run began')
      }
      let terminal: EventInput
      if (start.kind === 'exhausted') {
        // runs before the queue lost the job (prior_attempts) count too: the job is failed, not run
        const error = `not run: the job already ran ${start.runs} times, and MAX_ATTEMPTS is ${this.#o.maxAttempts}`
        log.warn({ runs: start.runs, prior_attempts: data.prior_attempts ?? 0 }, 'job refused: too many runs')
        // attempt: the runs that began, so the gateway's count covers one whose STARTED died with its worker
        terminal = { job_id: jobId, kind: 'FAILED', attempt: start.runs, engine: engine.name, error }
      } else {
        const attempt = start.attempt
        const started = events.append({ job_id: jobId, kind: 'STARTED', attempt, engine: engine.name, total_steps: engine.totalSteps(data), node: '' })
        log.info({ attempt, engine: engine.name, bullmq_attempts_started: job.attemptsStarted, epoch: started.epoch, seq: started.seq }, 'job started')
        terminal = await this.#execute(jobId, data, execution.controller.signal, attempt, log)
      }
      execution.state = 'held'
      const event = events.append(terminal)
      log.info({ kind: event.kind, seq: event.seq, error: event.error || undefined }, 'job ended; waiting for the gateway to ack')
      while (!await events.waitForAck(event.seq, this.#o.ackTimeoutMs)) {
        // a gateway that streams this worker is making the event durable (a store may be slow): wait on
        if (this.#o.unstreamed()) return await this.#giveBack(job, jobId, token, log)
      }
      log.info({ seq: event.seq }, 'terminal event acked')
      const status = event.kind === 'FINISHED' ? 'finished' : event.kind === 'CANCELLED' ? 'cancelled' : 'failed'
      return { status, seq: event.seq, ...(event.error !== '' ? { error: event.error } : {}) }
    } finally {
      outputs.release(jobId)
      this.#executions.delete(jobId)
      await this.#fitSlots()
    }
  }

  /**
   * No gateway acked the job's end and none streams this worker: nothing of this run can be recorded.
   * Its events are withdrawn (a gateway attaching later must not apply them) and the job goes back to
   * the queue untouched — not failed — for a worker that a gateway streams.
   */
  async #giveBack (job: Job<QueuedJob, JobOutcome>, jobId: string, token: string | undefined, log: Logger): Promise<never> {
    const withdrawn = this.#o.events.withdraw(jobId)
    log.warn({ ack_timeout_ms: this.#o.ackTimeoutMs, withdrawn }, 'no gateway acked the job\'s end and none streams this worker; the job goes back to the queue')
    await job.moveToDelayed(Date.now(), token)
    throw new DelayedError()
  }

  async #execute (jobId: string, data: QueuedJob, signal: AbortSignal, attempt: number, log: Logger): Promise<EventInput> {
    const { engine, events, outputs } = this.#o
    const base = { job_id: jobId, attempt, engine: engine.name }
    // a failed or cancelled job ends where it got to, so the gateway's row does not lag its events
    let last: Pick<EventInput, 'progress' | 'step' | 'total_steps'> = {}
    try {
      const inputs = await this.#o.inputs.resolve(data.inputs, signal)
      if (data.inputs !== undefined) log.info({ inputs: Object.keys(inputs) }, 'input files fetched')
      const result = await engine.run(data, {
        signal,
        inputs,
        logger: log,
        onProgress: p => {
          last = { progress: p.progress, step: p.step, total_steps: p.total_steps }
          events.append({ ...base, kind: 'PROGRESS', ...p })
          log.debug(p, 'progress')
        }
      })
      signal.throwIfAborted()
      const described = await describeOutputs(jobId, result.outputs)
      for (const { file, data: bytes } of described) outputs.put(jobId, file.name, bytes)
      const files = described.map(({ file }) => file)
      return { ...base, kind: 'FINISHED', progress: 100, outputs: files, metadata_json: JSON.stringify(result.metadata) }
    } catch (err) {
      if (signal.aborted) return { ...base, ...last, kind: 'CANCELLED', error: 'cancelled' }
      const message = err instanceof Error ? err.message : String(err)
      log.warn({ err: message }, 'job failed')
      return { ...base, ...last, kind: 'FAILED', error: message }
    }
  }
}
