import { callSignal, type CallSignal, type ServerCall } from './call-signal.ts'

/** The open server streams, so shutdown can end them (an open stream would hold tryShutdown for ever). */
export class OpenStreams {
  readonly #open = new Set<CallSignal>()
  #closing = false

  get size (): number {
    return this.#open.size
  }

  /** The stream's signal; it also aborts at shutdown. dispose() when the stream is done. */
  open (call: ServerCall): CallSignal {
    const tracked = callSignal(call)
    if (this.#closing) tracked.abort('shutdown')
    this.#open.add(tracked)
    return {
      ...tracked,
      dispose: () => {
        tracked.dispose()
        this.#open.delete(tracked)
      }
    }
  }

  /** A unary call that waits (Submit with wait_seconds): it ends its wait, and answers, at shutdown. */
  hold (): { signal: AbortSignal, dispose: () => void } {
    const abort = new AbortController()
    const tracked: CallSignal = { signal: abort.signal, abort: why => abort.abort(why), dispose: () => {} }
    if (this.#closing) abort.abort('shutdown')
    this.#open.add(tracked)
    return { signal: abort.signal, dispose: () => { this.#open.delete(tracked) } }
  }

  endAll (): void {
    this.#closing = true
    for (const tracked of this.#open) tracked.abort('shutdown')
  }
}
