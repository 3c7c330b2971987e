import { once } from 'node:events'
import * as grpc from '@grpc/grpc-js'
import type { Logger } from 'pino'
import {
  SERVER_OPTIONS,
  WORKER_SERVICE_NAME,
  addHealthService,
  bindServer,
  shutdownServer,
  workerService,
  workerServerCredentials,
  linkTokenCheck,
  type WorkerLinkSecurity,
  type CancelJobRequest,
  type CancelJobResponse,
  type GetOutputRequest,
  type InputFeedMessage,
  type InputRequest,
  type JobEvent,
  type OutputChunk,
  type StreamRequest,
  type WorkerInfo,
  type WorkerServiceHandlers
} from '@comfy-jobs/rpc'
import type { Consumer } from './consumer.ts'
import type { Engine } from './engines/engine.ts'
import { SubscriberActiveError, type EventLog, type Subscription } from './event-log.ts'
import type { OutputStore } from './output-store.ts'
import type { InputFetcher } from './inputs/input-fetcher.ts'
import { InputFeeder } from './inputs/input-feeder.ts'

const CHUNK_BYTES = 64 * 1024

export interface WorkerGrpcServerOptions {
  host: string
  port: number
  concurrency: number
  events: EventLog
  outputs: OutputStore
  inputs: InputFetcher
  consumer: Consumer
  engine: Engine
  /** for GetInfo: whether the worker takes jobs, and why not */
  readiness: () => { ready: boolean, reason: string }
  /** what every call must present; see config.ts */
  link: WorkerLinkSecurity
  logger: Logger
}

type EventStream = grpc.ServerDuplexStream<StreamRequest, JobEvent>
type FeedStream = grpc.ServerDuplexStream<InputFeedMessage, InputRequest>

/** Serves WorkerService and the standard health service. */
export class WorkerGrpcServer {
  readonly #o: WorkerGrpcServerOptions
  readonly #log: Logger
  readonly #server: grpc.Server
  readonly #health: ReturnType<typeof addHealthService>
  readonly #streams = new Set<EventStream | FeedStream>()
  #port: number | null = null

  constructor (options: WorkerGrpcServerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'grpc' })
    this.#server = new grpc.Server(SERVER_OPTIONS)
    const handlers: WorkerServiceHandlers = {
      StreamEvents: call => this.#streamEvents(call),
      GetOutput: call => { void this.#getOutput(call) },
      CancelJob: (call, callback) => this.#cancelJob(call.request, callback),
      GetInfo: (_call, callback) => callback(null, this.#info()),
      GetNodeCatalogue: (_call, callback) => {
        const catalogue = this.#o.engine.nodeCatalogue?.() ?? null
        if (catalogue === null) callback({ code: grpc.status.FAILED_PRECONDITION, details: `the ${this.#o.engine.name} engine has no ComfyUI node catalogue${this.#o.engine.name === 'comfyui' ? ' yet (ComfyUI has not answered /object_info)' : ''}` })
        else callback(null, catalogue)
      },
      InputFeed: call => this.#inputFeed(call)
    }
    this.#server.addService(workerService(), this.#guarded(handlers))
    this.#health = addHealthService(this.#server, { '': 'SERVING', [WORKER_SERVICE_NAME]: 'SERVING' })
  }

  /**
   * Every call of the worker service presents the link token (when one is set) before its handler
   * runs: a refused StreamEvents never attaches, so nothing it sends (a Hello's acked_seq, an Ack)
   * counts; a refused InputFeed never serves files. The health service stays open.
   */
  #guarded (handlers: WorkerServiceHandlers): WorkerServiceHandlers {
    const allowed = linkTokenCheck(this.#o.link.token)
    const guarded: Record<string, (call: any, callback?: any) => void> = {}
    for (const [name, handler] of Object.entries(handlers)) {
      guarded[name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
        if (allowed(call.metadata)) return (handler as (call: unknown, callback?: unknown) => void)(call, callback)
        const error = { code: grpc.status.UNAUTHENTICATED, details: 'the worker link requires its token (WORKER_LINK_TOKEN)' }
        this.#log.warn({ peer: call.getPeer(), rpc: name }, 'call refused: no valid worker link token')
        if (callback !== undefined) callback(error)
        else call.emit('error', error)
      }
    }
    return guarded as unknown as WorkerServiceHandlers
  }

  /** gRPC health follows readiness: NOT_SERVING while the worker does not take jobs. */
  setServing (serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING'
    this.#health.setStatus('', status)
    this.#health.setStatus(WORKER_SERVICE_NAME, status)
  }

  get port (): number | null {
    return this.#port
  }

  /** Binds and resolves with the bound port (useful with port 0). */
  async listen (): Promise<number> {
    const { host, port } = this.#o
    this.#port = await bindServer(this.#server, host, port, 'WORKER_GRPC_HOST/WORKER_GRPC_PORT', workerServerCredentials(this.#o.link))
    this.#log.info({ host, port: this.#port, link_token: this.#o.link.token !== null, link_tls: this.#o.link.tls !== null }, 'gRPC listening')
    return this.#port
  }

  /** Ends the event streams, then shuts down, forcing after timeoutMs. */
  async close (timeoutMs: number): Promise<void> {
    this.setServing(false)
    // An open bidi stream would keep tryShutdown waiting for ever.
    for (const call of this.#streams) call.end()
    if (!await shutdownServer(this.#server, timeoutMs)) this.#log.warn('gRPC calls still open; shutdown forced')
  }

  #streamEvents (call: EventStream): void {
    const { events } = this.#o
    const log = this.#log.child({ peer: call.getPeer() })
    let subscription: Subscription | null = null
    let done = false
    this.#streams.add(call)

    const finish = (why: string): void => {
      if (done) return
      done = true
      this.#streams.delete(call)
      if (subscription !== null) {
        subscription.detach()
        log.info({ why, acked_seq: events.ackedSeq, unacked: events.pendingCount }, 'event subscriber detached')
      }
    }
    const fail = (code: grpc.status, details: string): void => {
      log.warn({ code: grpc.status[code], details }, 'event stream rejected')
      finish('rejected')
      call.emit('error', { code, details })
    }

    call.on('data', (req: StreamRequest) => {
      if (done) return
      if (subscription === null) {
        if (req.msg !== 'hello' || req.hello == null) return fail(grpc.status.INVALID_ARGUMENT, 'the first StreamEvents message must be a Hello')
        const { gateway_id: gatewayId, epoch, acked_seq: ackedSeq } = req.hello
        try {
          subscription = events.attach({
            send: event => {
              if (!call.cancelled && !call.writableEnded && !call.destroyed) call.write(event)
            }
          }, { epoch, seq: Number(ackedSeq) })
        } catch (err) {
          if (err instanceof SubscriberActiveError) return fail(grpc.status.ALREADY_EXISTS, err.message)
          throw err
        }
        // Headers now, so the gateway knows the stream is open before the first event.
        call.sendMetadata(new grpc.Metadata())
        log.info({ gateway_id: gatewayId, hello_epoch: epoch, hello_acked_seq: Number(ackedSeq), epoch: events.epoch, last_seq: events.lastSeq }, 'event subscriber attached')
        return
      }
      if (req.msg === 'ack' && req.ack != null) {
        events.ack(req.ack.epoch, Number(req.ack.seq))
        log.debug({ epoch: req.ack.epoch, seq: Number(req.ack.seq) }, 'ack')
        return
      }
      fail(grpc.status.INVALID_ARGUMENT, 'after the Hello only Acks may be sent')
    })
    call.on('end', () => {
      finish('client ended the stream')
      if (!call.writableEnded) call.end()
    })
    call.on('cancelled', () => finish('cancelled'))
    call.on('error', () => finish('error'))
    call.on('close', () => finish('closed'))
  }

  /** A gateway offers this worker the input files of jobs: after its hello, the worker asks it for files. */
  #inputFeed (call: FeedStream): void {
    const log = this.#log.child({ peer: call.getPeer() })
    let feeder: InputFeeder | null = null
    this.#streams.add(call)
    const finish = (why: string): void => {
      this.#streams.delete(call)
      if (feeder !== null) this.#o.inputs.remove(feeder, why)
      feeder = null
    }
    call.on('data', (message: InputFeedMessage) => {
      if (feeder === null) {
        if (message.msg !== 'hello' || message.hello == null) {
          log.warn('input feed rejected: the first message must be an InputFeedHello')
          finish('rejected')
          call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first InputFeed message must be an InputFeedHello' })
          return
        }
        feeder = new InputFeeder(call, message.hello.gateway_id)
        call.sendMetadata(new grpc.Metadata())
        this.#o.inputs.add(feeder)
        return
      }
      if (message.msg === 'chunk' && message.chunk != null) feeder.receive(message.chunk)
    })
    call.on('end', () => {
      finish('the gateway ended the feed')
      if (!call.writableEnded) call.end()
    })
    call.on('cancelled', () => finish('cancelled'))
    call.on('error', () => finish('error'))
    call.on('close', () => finish('closed'))
  }

  async #getOutput (call: grpc.ServerWritableStream<GetOutputRequest, OutputChunk>): Promise<void> {
    const { job_id: jobId, name } = call.request
    const data = this.#o.outputs.get(jobId, name)
    if (data === undefined) {
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `no output ${JSON.stringify(name)} held for job ${JSON.stringify(jobId)}` })
      return
    }
    const gone = new AbortController()
    call.once('cancelled', () => gone.abort())
    call.once('close', () => gone.abort())
    try {
      for (let offset = 0; offset < data.length; offset += CHUNK_BYTES) {
        if (gone.signal.aborted) return
        if (!call.write({ data: data.subarray(offset, offset + CHUNK_BYTES) })) {
          await once(call, 'drain', { signal: gone.signal })
        }
      }
      call.end()
    } catch (err) {
      if (!gone.signal.aborted) throw err
    }
  }

  #cancelJob (req: CancelJobRequest, callback: grpc.sendUnaryData<CancelJobResponse>): void {
    if (!req.job_id) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'job_id is required' })
      return
    }
    const state = this.#o.consumer.cancel(req.job_id, req.reason || 'cancelled by gateway')
    this.#log.info({ job_id: req.job_id, reason: req.reason, state }, 'CancelJob')
    callback(null, { state })
  }

  #info (): WorkerInfo {
    const { events, engine, consumer, concurrency } = this.#o
    const runnable = engine.runnable()
    const readiness = this.#o.readiness()
    return {
      worker_id: events.workerId,
      epoch: events.epoch,
      engine: engine.name,
      workflows: runnable.map(r => r.workflow),
      models: [...new Set(runnable.flatMap(r => r.models))],
      runnable,
      node_catalogue_digest: engine.nodeCatalogue?.()?.digest ?? '',
      concurrency,
      running: consumer.running,
      ready: readiness.ready,
      not_ready_reason: readiness.reason
    }
  }
}
