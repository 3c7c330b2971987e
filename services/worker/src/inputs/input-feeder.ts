import type * as grpc from '@grpc/grpc-js'
import type { InputChunk, InputFeedMessage, InputRequest } from '@comfy-jobs/rpc'

/** The gateway said it does not have the file. */
export class NotOnFeeder extends Error {
  constructor (readonly gatewayId: string, name: string) {
    super(`gateway ${gatewayId} has no input ${name}`)
    this.name = 'NotOnFeeder'
  }
}

/** The stream ended, or the gateway could not send the file; another gateway (or this one, reconnected) may. */
export class FeederFailed extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'FeederFailed'
  }
}

interface Pending {
  name: string
  maxBytes: number
  chunks: Buffer[]
  bytes: number
  resolve: (data: Buffer) => void
  reject: (err: Error) => void
}

export type FeedCall = grpc.ServerDuplexStream<InputFeedMessage, InputRequest>

/**
 * One gateway's InputFeed stream, as the worker uses it: ask for a file by name, get its bytes. Several
 * requests may be under way at once; their chunks arrive interleaved, each tagged with its request.
 */
export class InputFeeder {
  readonly gatewayId: string
  readonly #call: FeedCall
  readonly #pending = new Map<number, Pending>()
  #nextId = 1
  #closed = false

  constructor (call: FeedCall, gatewayId: string) {
    this.#call = call
    this.gatewayId = gatewayId
  }

  get closed (): boolean {
    return this.#closed
  }

  /** The file's bytes; rejects with NotOnFeeder or FeederFailed. More than maxBytes is a failure. */
  request (name: string, maxBytes: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new FeederFailed(`the input feed from gateway ${this.gatewayId} is closed`))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { name, maxBytes, chunks: [], bytes: 0, resolve, reject })
      this.#call.write({ request_id: id, name })
    })
  }

  /** A chunk from the gateway; chunks of requests no longer pending are dropped. */
  receive (chunk: InputChunk): void {
    const id = Number(chunk.request_id)
    const p = this.#pending.get(id)
    if (p === undefined) return
    if (chunk.error !== '') {
      this.#pending.delete(id)
      p.reject(chunk.not_found ? new NotOnFeeder(this.gatewayId, p.name) : new FeederFailed(`gateway ${this.gatewayId} could not send ${p.name}: ${chunk.error}`))
      return
    }
    p.bytes += chunk.data.length
    if (p.bytes > p.maxBytes) {
      this.#pending.delete(id)
      p.reject(new FeederFailed(`gateway ${this.gatewayId} sent more than the ${p.maxBytes} bytes of ${p.name}`))
      return
    }
    p.chunks.push(chunk.data)
    if (chunk.last) {
      this.#pending.delete(id)
      p.resolve(Buffer.concat(p.chunks, p.bytes))
    }
  }

  /** The stream ended: every request under way fails (to be asked elsewhere). */
  close (why: string): void {
    if (this.#closed) return
    this.#closed = true
    for (const p of this.#pending.values()) p.reject(new FeederFailed(`the input feed from gateway ${this.gatewayId} ended (${why}) while ${p.name} was on its way`))
    this.#pending.clear()
    if (!this.#call.writableEnded) this.#call.end()
  }
}
