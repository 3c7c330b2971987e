import * as grpc from '@grpc/grpc-js'
import { loadDefinition } from './load.ts'
import { OPEN_WORKER_LINK, linkTokenInterceptor, workerChannelCredentials, type WorkerLinkSecurity } from './worker-link-auth.ts'

export const WORKER_PROTO = 'comfyjobs/worker/v1/worker.proto'
export const WORKER_SERVICE_NAME = 'comfyjobs.worker.v1.WorkerService'

export type EventKind = 'STARTED' | 'PROGRESS' | 'FINISHED' | 'FAILED' | 'CANCELLED'

export interface OutputFile {
  name: string
  index: number
  mime: string
  width: number
  height: number
  bytes: number
  sha256: string
  /** image, video or audio; '' from older workers means image */
  kind: string
  /** 0 = unknown */
  duration_ms: number
  frames: number
}

export interface JobEvent {
  worker_id: string
  epoch: string
  seq: number
  job_id: string
  at_ms: number
  kind: EventKind
  progress: number
  step: number
  total_steps: number
  node: string
  error: string
  outputs: OutputFile[]
  attempt: number
  engine: string
  metadata_json: string
}

export interface Hello { gateway_id: string, epoch: string, acked_seq: number }
export interface Ack { epoch: string, seq: number }
export type StreamRequest = { msg?: 'hello', hello: Hello } | { msg?: 'ack', ack: Ack }

export interface GetOutputRequest { job_id: string, name: string }
export interface OutputChunk { data: Buffer }
export interface CancelJobRequest { job_id: string, reason: string }
export interface CancelJobResponse { state: 'running' | 'held' | 'unknown' | string }
export interface MediaInput {
  name: string
  kind: string
  required: boolean
  min: number
  max: number
  members: string[]
  description: string
}
export interface WorkflowModels {
  workflow: string
  /** the first is the default */
  models: string[]
  description?: string
  /** required ('' from older workers), optional, none */
  prompt?: string
  max_prompts?: number
  inputs?: MediaInput[]
  model_files?: string[]
  /** other names a submit may use for the workflow */
  aliases?: string[]
}
export interface InputRequest { request_id: number, name: string }
export interface InputChunk { request_id: number, data: Buffer, last: boolean, error: string, not_found: boolean }
export type InputFeedMessage = { msg?: 'hello', hello: { gateway_id: string } } | { msg?: 'chunk', chunk: InputChunk }
export interface WorkerInfo {
  worker_id: string
  epoch: string
  engine: string
  workflows: string[]
  models: string[]
  concurrency: number
  running: number
  ready: boolean
  runnable: WorkflowModels[]
  node_catalogue_digest: string
  /** why ready is false ('' when ready) */
  not_ready_reason: string
}

export interface NodeInput {
  name: string
  required: boolean
  type: string
  options: string[]
  min?: number | null
  max?: number | null
  upload: boolean
}
export interface NodeClass {
  name: string
  inputs: NodeInput[]
  outputs: string[]
  output_node: boolean
}
export interface NodeCatalogue {
  digest: string
  classes: NodeClass[]
}

export interface WorkerServiceHandlers extends grpc.UntypedServiceImplementation {
  StreamEvents: grpc.handleBidiStreamingCall<StreamRequest, JobEvent>
  GetOutput: grpc.handleServerStreamingCall<GetOutputRequest, OutputChunk>
  CancelJob: grpc.handleUnaryCall<CancelJobRequest, CancelJobResponse>
  GetInfo: grpc.handleUnaryCall<Record<string, never>, WorkerInfo>
  InputFeed: grpc.handleBidiStreamingCall<InputFeedMessage, InputRequest>
  GetNodeCatalogue: grpc.handleUnaryCall<Record<string, never>, NodeCatalogue>
}

type Unary<Req, Res> = (req: Req, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall

export interface WorkerServiceClient extends grpc.Client {
  StreamEvents: (options?: grpc.CallOptions) => grpc.ClientDuplexStream<StreamRequest, JobEvent>
  GetOutput: (req: GetOutputRequest, options?: grpc.CallOptions) => grpc.ClientReadableStream<OutputChunk>
  CancelJob: Unary<CancelJobRequest, CancelJobResponse>
  GetInfo: Unary<Record<string, never>, WorkerInfo>
  InputFeed: (options?: grpc.CallOptions) => grpc.ClientDuplexStream<InputFeedMessage, InputRequest>
  GetNodeCatalogue: Unary<Record<string, never>, NodeCatalogue>
}

function workerServiceDefinition (): grpc.ServiceDefinition {
  const pkg = grpc.loadPackageDefinition(loadDefinition(WORKER_PROTO)) as any
  return pkg.comfyjobs.worker.v1.WorkerService.service
}

export function workerService (): grpc.ServiceDefinition {
  return workerServiceDefinition()
}

/** Channel options shared by both ends: keepalive so a dead peer is noticed within seconds. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 64 * 1024 * 1024
}

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.http2.min_ping_interval_without_data_ms': 1000,
  'grpc.keepalive_permit_without_calls': 1
}

/** A client of a worker; `security` as the worker requires it (WORKER_LINK_TOKEN, WORKER_TLS_*). */
export function createWorkerClient (address: string, security: WorkerLinkSecurity = OPEN_WORKER_LINK): WorkerServiceClient {
  const Client = grpc.makeGenericClientConstructor(workerServiceDefinition(), 'WorkerService')
  const options: grpc.ClientOptions = { ...CHANNEL_OPTIONS }
  if (security.token !== null) options.interceptors = [linkTokenInterceptor(security.token)]
  return new Client(address, workerChannelCredentials(security), options) as unknown as WorkerServiceClient
}
