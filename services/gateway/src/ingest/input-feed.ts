import { once } from 'node:events'
import type * as grpc from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { InputChunk, InputFeedMessage, InputRequest, WorkerServiceClient } from '@comfy-jobs/rpc'
import type { ReadStream } from 'node:fs'

/** Where the feed reads input files from (the gateway's UploadStore). */
export interface InputFiles {
  read: (name: string) => Promise<{ size: number, stream: ReadStream } | null>
}

const CHUNK_BYTES = 64 * 1024
const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 3000

type FeedCall = grpc.ClientDuplexStream<InputFeedMessage, InputRequest>

/**
 * The gateway's end of one worker's InputFeed: holds the stream open (reconnecting with backoff) and
 * answers each file the worker asks for with its bytes, in chunks, honouring the stream's flow control.
 * Every gateway that reaches the worker feeds it, standby ones too: inputs are not tied to who ingests.
 */
export class InputFeed {
  readonly #client: WorkerServiceClient
  readonly #files: InputFiles
  readonly #gatewayId: string
  readonly #log: Logger
  #running = false
  #call: FeedCall | null = null
  #wake: (() => void) | null = null
  /** the worker holds our feed open */
  open = false

  constructor (client: WorkerServiceClient, files: InputFiles, gatewayId: string, logger: Logger) {
    this.#client = client
    this.#files = files
    this.#gatewayId = gatewayId
    this.#log = logger
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    void this.#loop()
  }

  stop (): void {
    this.#running = false
    this.#call?.cancel()
    this.#wake?.()
  }

  async #loop (): Promise<void> {
    let backoff = BACKOFF_MIN_MS
    let failures = 0
    while (this.#running) {
      try {
        await this.#session(() => { backoff = BACKOFF_MIN_MS; failures = 0 })
      } catch (err) {
        const e = err as grpc.ServiceError
        if (this.#running) this.#log[failures === 0 ? 'warn' : 'debug']({ code: e.code, err: e.details ?? e.message }, 'input feed unavailable; retrying')
        failures++
      }
      this.open = false
      if (!this.#running) break
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, backoff)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
      this.#wake = null
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)
    }
  }

  /** One stream; resolves or rejects when it ends. */
  async #session (onOpen: () => void): Promise<void> {
    const call = this.#client.InputFeed()
    this.#call = call
    call.write({ hello: { gateway_id: this.#gatewayId } })
    await new Promise<void>((resolve, reject) => {
      call.on('metadata', () => {
        this.open = true
        onOpen()
        this.#log.info('input feed open')
      })
      call.on('data', (request: InputRequest) => { void this.#serve(call, request) })
      call.on('error', reject)
      call.on('end', () => resolve())
    })
  }

  /** Sends one file; a file we do not have, or cannot read, is an answer too. */
  async #serve (call: FeedCall, { request_id: requestId, name }: InputRequest): Promise<void> {
    const send = async (chunk: Omit<InputChunk, 'request_id'>): Promise<void> => {
      if (call.destroyed || !call.writable) throw new Error('the input feed closed')
      if (!call.write({ chunk: { request_id: requestId, ...chunk } })) await once(call, 'drain')
    }
    const none = Buffer.alloc(0)
    try {
      const file = await this.#files.read(name)
      if (file === null) {
        await send({ data: none, last: true, error: 'no such input', not_found: true })
        this.#log.warn({ input: name }, 'a worker asked for an input this gateway does not have')
        return
      }
      let sent = 0
      for await (const data of file.stream as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
          const piece = data.subarray(offset, offset + CHUNK_BYTES)
          sent += piece.length
          await send({ data: piece, last: false, error: '', not_found: false })
        }
      }
      await send({ data: none, last: true, error: '', not_found: false })
      this.#log.debug({ input: name, bytes: sent }, 'input sent to the worker')
    } catch (err) {
      this.#log.warn({ input: name, err: (err as Error).message }, 'could not send an input to the worker')
      await send({ data: none, last: true, error: (err as Error).message, not_found: false }).catch(() => {})
    }
  }
}
