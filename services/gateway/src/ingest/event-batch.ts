import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobEvent } from '@comfy-jobs/rpc'
import type { EventIngestor, EventSource } from './event-ingestor.ts'

/**
 * One job's events of a batch, applied strictly in order. `next` is the first event not yet durable,
 * so a retry after a failure resumes there and does not apply anything twice.
 */
class JobLane {
  readonly events: JobEvent[] = []
  next = 0
  /** newest progress already in Redis whose database write is still due */
  #unsaved: JobEvent | null = null

  get done (): boolean {
    return this.next === this.events.length && this.#unsaved === null
  }

  async run (ingestor: EventIngestor, source: EventSource): Promise<void> {
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
 * Events of one worker epoch, in seq order, made durable together: each job's events in order, the
 * jobs side by side (so one job's output download does not hold up another's progress within the
 * batch). `apply` may be called again after it failed; it picks up where each job stopped.
 */
export class EventBatch {
  readonly epoch: string
  readonly lastSeq: number
  readonly size: number
  readonly #lanes = new Map<string, JobLane>()

  constructor (events: JobEvent[]) {
    this.epoch = events[0].epoch
    this.lastSeq = events[events.length - 1].seq
    this.size = events.length
    for (const event of events) {
      let lane = this.#lanes.get(event.job_id)
      if (lane === undefined) this.#lanes.set(event.job_id, lane = new JobLane())
      lane.events.push(event)
    }
  }

  /** Resolves once every event is durable; rejects with the first failure after every job has stopped. */
  async apply (ingestor: EventIngestor, source: EventSource, log: Logger): Promise<void> {
    const pending = [...this.#lanes].filter(([, lane]) => !lane.done)
    const results = await Promise.allSettled(pending.map(([, lane]) => lane.run(ingestor, source)))
    let first: unknown = null
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') return
      const [jobId, lane] = pending[i]
      const event = lane.events[lane.next] ?? lane.events[lane.events.length - 1]
      log.child({ job_id: jobId }).warn({ seq: event.seq, kind: event.kind, err: (r.reason as Error).message }, 'event not yet durable; retrying')
      first ??= r.reason
    })
    if (first !== null) throw first
  }
}
