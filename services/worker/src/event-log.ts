import { randomUUID } from 'node:crypto'
import type { JobEvent } from '@comfy-jobs/rpc'

/** What a caller supplies; the log fills in the envelope (seq, epoch, worker_id, at_ms) and defaults. */
export type EventInput = Pick<JobEvent, 'job_id' | 'kind'> & Partial<Omit<JobEvent, 'seq' | 'epoch' | 'worker_id' | 'at_ms' | 'job_id' | 'kind'>>

export interface EventSubscriber {
  send: (event: JobEvent) => void
}

/** Where the subscriber says it left off: the epoch it knows and the highest seq it made durable. */
export interface ResumePoint {
  epoch: string
  seq: number
}

export interface Subscription {
  /** Idempotent. Unacked events stay in the log for the next subscriber. */
  detach: () => void
}

export class SubscriberActiveError extends Error {
  constructor () {
    super('another gateway is already streaming this worker\'s events')
    this.name = 'SubscriberActiveError'
  }
}

interface AckWaiter {
  seq: number
  resolve: () => void
}

/**
 * The worker's outbox for one boot: every event gets the next gap-free seq of this epoch and is kept
 * until the (single) subscriber acks it. A new subscriber first gets the unacked events it has not
 * seen, then live ones.
 */
export class EventLog {
  readonly epoch = randomUUID()
  readonly workerId: string
  #lastSeq = 0
  #ackedSeq = 0
  /** Unacked events, in seq order. */
  #pending: JobEvent[] = []
  #subscriber: EventSubscriber | null = null
  #waiters: AckWaiter[] = []
  readonly #subscriberListeners: Array<(attached: boolean) => void> = []

  constructor (workerId: string) {
    this.workerId = workerId
  }

  get lastSeq (): number {
    return this.#lastSeq
  }

  get ackedSeq (): number {
    return this.#ackedSeq
  }

  get pendingCount (): number {
    return this.#pending.length
  }

  get hasSubscriber (): boolean {
    return this.#subscriber !== null
  }

  append (input: EventInput): JobEvent {
    const event: JobEvent = {
      progress: 0,
      step: 0,
      total_steps: 0,
      node: '',
      error: '',
      outputs: [],
      attempt: 0,
      engine: '',
      metadata_json: '',
      ...input,
      worker_id: this.workerId,
      epoch: this.epoch,
      seq: ++this.#lastSeq,
      at_ms: Date.now()
    }
    this.#pending.push(event)
    this.#subscriber?.send(event)
    return event
  }

  /** Drops every event up to seq. Acks of another epoch, and acks of unsent seqs beyond lastSeq, are clamped or ignored. */
  ack (epoch: string, seq: number): void {
    if (epoch !== this.epoch) return
    const upTo = Math.min(Math.floor(seq), this.#lastSeq)
    if (!(upTo > this.#ackedSeq)) return
    this.#ackedSeq = upTo
    let drop = 0
    while (drop < this.#pending.length && this.#pending[drop].seq <= upTo) drop++
    this.#pending.splice(0, drop)
    const due = this.#waiters.filter(w => w.seq <= upTo)
    this.#waiters = this.#waiters.filter(w => w.seq > upTo)
    for (const w of due) w.resolve()
  }

  /** Resolves true once seq is acked, or false after timeoutMs without that. */
  waitForAck (seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.#ackedSeq) return Promise.resolve(true)
    return new Promise(resolve => {
      const waiter: AckWaiter = { seq, resolve: () => { clearTimeout(timer); resolve(true) } }
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter(w => w !== waiter)
        resolve(false)
      }, timeoutMs)
      this.#waiters.push(waiter)
    })
  }

  /**
   * Drops a job's unacked events: the job was given back to the queue, and a gateway that attaches
   * later must not apply a run that no longer counts. Seqs stay as they were, with a gap.
   */
  withdraw (jobId: string): number {
    const before = this.#pending.length
    this.#pending = this.#pending.filter(e => e.job_id !== jobId)
    return before - this.#pending.length
  }

  /** Calls listener(true) when a subscriber attaches, listener(false) when it detaches. */
  onSubscriberChange (listener: (attached: boolean) => void): void {
    this.#subscriberListeners.push(listener)
  }

  /**
   * Makes `subscriber` the one consumer of the log. A resume point of this epoch counts as an ack and
   * replay starts after it; any other epoch (an earlier boot, or none) gets every unacked event.
   * Throws SubscriberActiveError while another subscriber is attached.
   */
  attach (subscriber: EventSubscriber, from: ResumePoint): Subscription {
    if (this.#subscriber !== null) throw new SubscriberActiveError()
    let after = 0
    if (from.epoch === this.epoch) {
      this.ack(from.epoch, from.seq)
      after = from.seq
    }
    for (const event of this.#pending) {
      if (event.seq > after) subscriber.send(event)
    }
    this.#subscriber = subscriber
    for (const listener of this.#subscriberListeners) listener(true)
    return {
      detach: () => {
        if (this.#subscriber !== subscriber) return
        this.#subscriber = null
        for (const listener of this.#subscriberListeners) listener(false)
      }
    }
  }
}
