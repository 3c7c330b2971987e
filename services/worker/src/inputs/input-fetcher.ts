import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { InputRef, JobInputs } from '@comfy-jobs/contracts'
import type { ResolvedInput, ResolvedInputs } from '../engines/engine.ts'
import { FeederFailed, NotOnFeeder, type InputFeeder } from './input-feeder.ts'
import { InputCache } from './input-cache.ts'

/** The job cannot have its input: no gateway has it, or none served it in time. */
export class InputUnavailableError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'InputUnavailableError'
  }
}

export interface InputFetcherOptions {
  /** how long a job waits for a gateway that can serve its input */
  timeoutMs: number
  cacheBytes: number
  logger: Logger
}

/**
 * The bytes of jobs' inputs, fetched from the gateways that feed this worker (each holds an InputFeed
 * stream open) and checked against the content hash in their names; kept in a bounded cache by that
 * hash, so a file used by many jobs crosses the link once. A gateway that does not have a file, or goes
 * away mid-transfer, is passed over for another; with none to ask, the fetch waits (up to timeoutMs)
 * for one to connect.
 */
export class InputFetcher {
  readonly #o: InputFetcherOptions
  readonly #log: Logger
  readonly #feeders: InputFeeder[] = []
  readonly #cache: InputCache
  readonly #inFlight = new Map<string, Promise<Buffer>>()
  #waiters = new Set<() => void>()
  #turn = 0

  constructor (options: InputFetcherOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'inputs' })
    this.#cache = new InputCache(options.cacheBytes)
  }

  get feeders (): number {
    return this.#feeders.length
  }

  /** A gateway's feed is open: fetches may use it (and those waiting for a gateway wake up). */
  add (feeder: InputFeeder): void {
    this.#feeders.push(feeder)
    this.#log.info({ gateway_id: feeder.gatewayId, feeders: this.#feeders.length }, 'input feed attached')
    const waiters = this.#waiters
    this.#waiters = new Set()
    for (const wake of waiters) wake()
  }

  remove (feeder: InputFeeder, why: string): void {
    const i = this.#feeders.indexOf(feeder)
    if (i >= 0) this.#feeders.splice(i, 1)
    feeder.close(why)
    this.#log.info({ gateway_id: feeder.gatewayId, why, feeders: this.#feeders.length }, 'input feed detached')
  }

  /** Every input of a job with its bytes, in the shape the engines take. */
  async resolve (inputs: JobInputs | undefined, signal: AbortSignal): Promise<ResolvedInputs> {
    const resolved: ResolvedInputs = {}
    for (const [name, value] of Object.entries(inputs ?? {})) {
      const one = async (ref: InputRef): Promise<ResolvedInput> => ({ ref, data: await this.bytes(ref, signal) })
      resolved[name] = Array.isArray(value) ? await Promise.all(value.map(one)) : await one(value)
    }
    return resolved
  }

  /** One input's bytes, from the cache or a gateway; the same file asked for twice at once is fetched once. */
  async bytes (ref: InputRef, signal: AbortSignal): Promise<Buffer> {
    const cached = this.#cache.get(ref.name)
    if (cached !== undefined) return cached
    let fetching = this.#inFlight.get(ref.name)
    if (fetching === undefined) {
      fetching = this.#fetch(ref).finally(() => this.#inFlight.delete(ref.name))
      this.#inFlight.set(ref.name, fetching)
    }
    return await abortable(fetching, signal)
  }

  async #fetch (ref: InputRef): Promise<Buffer> {
    const deadline = Date.now() + this.#o.timeoutMs
    const refused = new Set<InputFeeder>()
    for (;;) {
      const feeder = this.#next(refused)
      if (feeder === null) {
        const live = this.#feeders.length
        if (live > 0) throw new InputUnavailableError(`input ${ref.name} is on none of the ${live} gateway(s) feeding this worker (deleted?)`)
        if (!await this.#feederBefore(deadline)) {
          throw new InputUnavailableError(`no gateway served input ${ref.name} within ${this.#o.timeoutMs} ms (INPUT_FETCH_TIMEOUT_MS): none is connected to this worker's input feed`)
        }
        continue
      }
      try {
        const data = await feeder.request(ref.name, ref.bytes)
        const problem = damage(ref, data)
        if (problem === null) {
          this.#cache.put(ref.name, data)
          return data
        }
        this.#log.warn({ gateway_id: feeder.gatewayId, input: ref.name, problem }, 'input arrived damaged; asking another gateway')
        refused.add(feeder)
      } catch (err) {
        if (err instanceof NotOnFeeder) refused.add(feeder)
        else if (err instanceof FeederFailed) this.#log.warn({ input: ref.name, err: err.message }, 'input fetch interrupted; asking again')
        else throw err
        if (Date.now() > deadline) throw new InputUnavailableError(`input ${ref.name} could not be fetched within ${this.#o.timeoutMs} ms: ${(err as Error).message}`)
      }
    }
  }

  /** The next open feeder that has not refused this file, round robin; null when there is none. */
  #next (refused: Set<InputFeeder>): InputFeeder | null {
    const open = this.#feeders.filter(f => !f.closed && !refused.has(f))
    if (open.length === 0) return null
    return open[this.#turn++ % open.length]
  }

  /** Resolves true once a feeder attaches, false at the deadline. */
  #feederBefore (deadline: number): Promise<boolean> {
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.#waiters.delete(wake); resolve(false) }, Math.max(0, deadline - Date.now()))
      const wake = (): void => { clearTimeout(timer); resolve(true) }
      this.#waiters.add(wake)
    })
  }
}

/** Why the bytes are not the file the reference names (its size and the sha256 in its name); null when they are. */
function damage (ref: InputRef, data: Buffer): string | null {
  if (data.length !== ref.bytes) return `${data.length} bytes, expected ${ref.bytes}`
  const sha256 = createHash('sha256').update(data).digest('hex')
  return ref.name.startsWith(`${sha256}.`) ? null : `sha256 ${sha256} does not match the name`
}

/** The promise, or the signal's reason as soon as it aborts (the shared fetch goes on for others). */
function abortable<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
