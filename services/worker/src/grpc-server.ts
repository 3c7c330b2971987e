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
  type CancelJobRequest,
  type CancelJobResponse,
  type GetOutputRequest,
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

const CHUNK_BYTES = 64 * 1024

export interface WorkerGrpcServerOptions {
  host: string
  port: number
  concurrency: number
  events: EventLog
  outputs: OutputStore
  consumer: Consumer
  engine: Engine
  /** for GetInfo.ready and gRPC health: taking jobs (the engine is ready) and not shutting down */
  isReady: () => boolean
  logger: Logger
}

type EventStream = grpc.ServerDuplexStream<StreamRequest, JobEvent>

/** Serves WorkerService and the standard health service. */
export class WorkerGrpcServer {
  readonly #o: WorkerGrpcServerOptions
  readonly #log: Logger
  readonly #server: grpc.Server
  readonly #health: ReturnType<typeof addHealthService>
  readonly #streams = new Set<EventStream>()
  #port: number | null = null

  constructor (options: WorkerGrpcServerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'grpc' })
    this.#server = new grpc.Server(SERVER_OPTIONS)
    const handlers: WorkerServiceHandlers = {
      StreamEvents: call => this.#streamEvents(call),
      GetOutput: call => { void this.#getOutput(call) },
      CancelJob: (call, callback) => this.#cancelJob(call.request, callback),
      GetInfo: (_call, callback) => callback(null, this.#info())
    }
    this.#server.addService(workerService(), handlers)
    this.#health = addHealthService(this.#server, { '': 'SERVING', [WORKER_SERVICE_NAME]: 'SERVING' })
  }

  /** gRPC health follows readiness: NOT_SERVING while the worker cannot take jobs. */
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
    this.#port = await bindServer(this.#server, host, port, 'WORKER_GRPC_HOST/WORKER_GRPC_PORT')
    this.#log.info({ host, port: this.#port }, 'gRPC listening')
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
    return {
      worker_id: events.workerId,
      epoch: events.epoch,
      engine: engine.name,
      workflows: runnable.map(r => r.workflow),
      models: [...new Set(runnable.flatMap(r => r.models))],
      runnable,
      concurrency,
      running: consumer.running,
      ready: this.#o.isReady()
    }
  }
}
