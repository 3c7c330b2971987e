interface Pending<V> {
  key: string
  resolve: (value: V) => void
  reject: (err: unknown) => void
}

export interface ReadBatcherLimits {
  /** most keys in one batch */
  maxBatch: number
  /** batches at once; reads asked while they all run wait and leave together when one ends */
  maxInFlight: number
  /** a batch running longer than this stops holding its slot (its callers have bounds of their own) */
  stallMs: number
}

/**
 * Reads by key, answered in batches: `readMany(keys)` answers the keys in order. A read leaves at the
 * end of the event loop's turn with the others asked in that turn; while `maxInFlight` batches are
 * already out it waits for one of them to come back, and the reads that gathered meanwhile go as one.
 * Under load, one socket write and one reply per request were most of a status read's cost; a lone
 * read (nothing out) still leaves at the end of its turn, so nothing waits when there is no load.
 */
export class ReadBatcher<V> {
  readonly #readMany: (keys: string[]) => Promise<V[]>
  readonly #limits: ReadBatcherLimits
  #pending: Array<Pending<V>> = []
  #inFlight = 0
  #flushScheduled = false

  constructor (readMany: (keys: string[]) => Promise<V[]>, limits: ReadBatcherLimits) {
    this.#readMany = readMany
    this.#limits = limits
  }

  read (key: string): Promise<V> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ key, resolve, reject })
      if (!this.#flushScheduled && this.#inFlight < this.#limits.maxInFlight) {
        this.#flushScheduled = true
        setImmediate(this.#flush)
      }
    })
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false
    while (this.#pending.length > 0 && this.#inFlight < this.#limits.maxInFlight) {
      const batch = this.#pending.length <= this.#limits.maxBatch ? this.#pending : this.#pending.slice(0, this.#limits.maxBatch)
      this.#pending = batch === this.#pending ? [] : this.#pending.slice(batch.length)
      this.#send(batch)
    }
  }

  #send (batch: Array<Pending<V>>): void {
    this.#inFlight++
    let holdsSlot = true
    const release = (): void => {
      if (!holdsSlot) return
      holdsSlot = false
      clearTimeout(stall)
      this.#inFlight--
      if (this.#pending.length > 0) this.#flush()
    }
    const stall = setTimeout(release, this.#limits.stallMs)
    let reply: Promise<V[]>
    try {
      reply = this.#readMany(batch.map(keyOf))
    } catch (err) {
      reply = Promise.reject(err)
    }
    reply.then(values => {
      release()
      for (let i = 0; i < batch.length; i++) batch[i].resolve(values[i])
    }, err => {
      release()
      for (const p of batch) p.reject(err)
    })
  }
}

function keyOf (p: { key: string }): string {
  return p.key
}
