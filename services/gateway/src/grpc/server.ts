import * as grpc from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import {
  JOBS_SERVICE_NAME, SERVER_OPTIONS, addHealthService, addReflectionService, bindServer, jobService, jobsProtoFile, shutdownServer
} from '@comfy-jobs/rpc'
import type { GrpcDeps } from './deps.ts'
import { jobServiceHandlers } from './handlers.ts'
import { OpenStreams } from './open-streams.ts'
import { withStrictStrings } from './strict-strings.ts'

/** The gateway's gRPC server: JobService, the standard health service and server reflection. */
export class GatewayGrpcServer {
  readonly #server = new grpc.Server(SERVER_OPTIONS)
  readonly #health: ReturnType<typeof addHealthService>
  readonly #streams = new OpenStreams()
  readonly #log: Logger
  #port: number | null = null

  constructor (deps: Omit<GrpcDeps, 'streams' | 'log'>, logger: Logger) {
    this.#log = logger
    this.#server.addService(withStrictStrings(jobService()), jobServiceHandlers({ ...deps, streams: this.#streams, log: logger }))
    this.#health = addHealthService(this.#server, { '': 'NOT_SERVING', [JOBS_SERVICE_NAME]: 'NOT_SERVING' })
    addReflectionService(this.#server, [jobsProtoFile()])
  }

  get port (): number | null {
    return this.#port
  }

  get openStreams (): number {
    return this.#streams.size
  }

  async listen (host: string, port: number): Promise<number> {
    this.#port = await bindServer(this.#server, host, port, 'GATEWAY_GRPC_HOST/GATEWAY_GRPC_PORT')
    this.#health.setStatus('', 'SERVING')
    this.#health.setStatus(JOBS_SERVICE_NAME, 'SERVING')
    this.#log.info({ host, port: this.#port }, 'gRPC listening')
    return this.#port
  }

  /** Says NOT_SERVING, ends the watch streams, lets unary calls finish; forces after timeoutMs. */
  async close (timeoutMs: number): Promise<void> {
    this.#health.setStatus('', 'NOT_SERVING')
    this.#health.setStatus(JOBS_SERVICE_NAME, 'NOT_SERVING')
    const streams = this.#streams.size
    this.#streams.endAll()
    const graceful = await shutdownServer(this.#server, timeoutMs)
    if (!graceful) this.#log.warn('gRPC calls still open after the grace period; shutdown forced')
    this.#log.info({ graceful, watch_streams_ended: streams }, 'gRPC server closed')
  }
}
