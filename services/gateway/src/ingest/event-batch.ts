import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobEvent } from '@comfy-jobs/rpc'
import type { EventIngestor, EventSource } from './event-ingestor.ts'

const RETRY_MIN_MS = 200
const RETRY_MAX_MS = 3000

/** What a batch needs from the link it runs for. */
export interface BatchContext {
  ingestor: EventIngestor
  source: EventSource
  log: Logger
  /** false once the link stops: a batch then gives up, unacked, and the worker keeps its events */
  running: () => boolean
  sleep: (ms: number) => Promise<void>
}

/**
 * One job's events of a batch, applied strictly in order. `next` is the first event not yet durable,
 * so a retry after a failure resumes there and does not apply anything twice.
 */
class JobLane {
  readonly jobId: string
  readonly events: JobEvent[] = []
  next = 0
  /** newest progress already in Redis whose database write is still due */
  #unsaved: JobEvent | null = null

  constructor (jobId: string) {
    this.jobId = jobId
  }

  /** A store being down must not skip an event: retries until durable; false if the link stops first. */
  async runUntilDurable (ctx: BatchContext): Promise<boolean> {
    let backoff = RETRY_MIN_MS
    for (;;) {
      if (!ctx.running()) return false
      try {
        await this.#run(ctx.ingestor, ctx.source)
        return true
      } catch (err) {
        const event = this.events[Math.min(this.next, this.events.length - 1)]
        ctx.log.child({ job_id: this.jobId }).warn({ seq: event.seq, kind: event.kind, err: (err as Error).message }, 'event not yet durable; retrying')
        await ctx.sleep(backoff)
        backoff = Math.min(backoff * 2, RETRY_MAX_MS)
      }
    }
  }

  async #run (ingestor: EventIngestor, source: EventSource): Promise<void> {
    while (this.next < this.events.length) {
      const event = this.events[this.next]
      if (event.kind === 'PROGRESS') {
        let end = this.next + 1
        while (end < this.events.length && this.events[end].kind === 'PROGRESS') end++
        await ingestor.writeProgress(this.events.slice(this.next, end))
        this.#unsaved = this.events[end - 1]
        this.next = end
      } else {
        await this.#save(ingestor) // a transition may reset or finish progress: what came before goes first
        await ingestor.applyTransition(event, source)
        this.next++
      }
    }
    await this.#save(ingestor)
  }

  async #save (ingestor: EventIngestor): Promise<void> {
    if (this.#unsaved === null) return
    await ingestor.saveProgress(this.#unsaved)
    this.#unsaved = null
  }
}

/**
 * Events of one worker epoch, in seq order, made durable together. Each job's events run in order,
 * after that job's events of earlier batches (`tails`); different jobs run side by side, so a slow
 * step of one job (a FINISHED event downloads the output) does not hold up the others.
 */
export class EventBatch {
  readonly epoch: string
  readonly lastSeq: number
  readonly #lanes = new Map<string, JobLane>()

  constructor (events: JobEvent[]) {
    this.epoch = events[0].epoch
    this.lastSeq = events[events.length - 1].seq
    for (const event of events) {
      let lane = this.#lanes.get(event.job_id)
      if (lane === undefined) this.#lanes.set(event.job_id, lane = new JobLane(event.job_id))
      lane.events.push(event)
    }
  }

  /**
   * Resolves true once every event is durable, false if the link stopped first. `tails` holds, per
   * job, the completion of its latest lane in an earlier batch still running; it is updated here.
   */
  run (ctx: BatchContext, tails: Map<string, Promise<boolean>>): Promise<boolean> {
    const lanes = [...this.#lanes.values()].map(lane => {
      const before = tails.get(lane.jobId)
      const done = before === undefined
        ? lane.runUntilDurable(ctx)
        : before.then(ok => ok && lane.runUntilDurable(ctx))
      tails.set(lane.jobId, done)
      void done.then(() => { if (tails.get(lane.jobId) === done) tails.delete(lane.jobId) })
      return done
    })
    return Promise.all(lanes).then(results => results.every(Boolean))
  }
}
