import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import type { PackageDefinition } from '@grpc/proto-loader'
import { PROTO_ROOT, loadDefinition } from './load.ts'
import type { ProtoFile } from './file-descriptors.ts'
import { CHANNEL_OPTIONS } from './worker-service.ts'

export const JOBS_PROTO = 'comfyjobs/jobs/v1/jobs.proto'
export const JOBS_SERVICE_NAME = 'comfyjobs.jobs.v1.JobService'

// Message shapes as the loader options in load.ts produce them: enums as names, 64-bit ints as numbers,
// unset `optional` fields absent (undefined), unset messages null.

export type GrpcJobStatus = 'JOB_STATUS_UNSPECIFIED' | 'JOB_STATUS_QUEUED' | 'JOB_STATUS_PROCESSING' | 'JOB_STATUS_FINISHED' | 'JOB_STATUS_FAILED' | 'JOB_STATUS_CANCELLED'
export type GrpcStatusSource = 'STATUS_SOURCE_UNSPECIFIED' | 'STATUS_SOURCE_REDIS' | 'STATUS_SOURCE_DATABASE'
export type GrpcJobEventType = 'JOB_EVENT_TYPE_UNSPECIFIED' | 'JOB_EVENT_TYPE_PROCESSING' | 'JOB_EVENT_TYPE_PROGRESS' | 'JOB_EVENT_TYPE_FINISHED' | 'JOB_EVENT_TYPE_FAILED' | 'JOB_EVENT_TYPE_CANCELLED' | 'JOB_EVENT_TYPE_QUEUED'

export interface Timestamp { seconds: number, nanos: number }

export interface SubmitRequest {
  prompt?: string
  workflow?: string
  model?: string
  aspect_ratio?: string
  seed?: number
  batch_size?: number
  inputs?: Record<string, { files: GrpcInputFile[] }>
  prompts?: string[]
  workflow_graph_json?: string
  wait_seconds?: number
  webhook?: string
  webhook_events_filter?: string[]
}
export type GrpcInputFile = { source?: 'upload', upload: string } | { source?: 'data', data: Buffer }
export interface SubmitResponse { job_id: string, status: GrpcJobStatus, message: string, job?: JobState | null, ended?: boolean }

export interface GetStatusRequest { job_id: string }

export interface GrpcOutput { index: number, url: string, kind: string, mime: string, width: number, height: number, bytes: number, duration_ms?: number, frames?: number }

export interface JobState {
  job_id: string
  status: GrpcJobStatus
  progress: number
  image_url?: string
  error?: string
  source: GrpcStatusSource
  step?: number
  total_steps?: number
  node?: string
  outputs: GrpcOutput[]
  created_at: Timestamp | null
  started_at: Timestamp | null
  finished_at: Timestamp | null
  updated_at: Timestamp | null
  /** a queued job no live worker can run: why it waits */
  waiting_reason?: string
}

export interface WatchJobRequest { job_id: string, after_seq?: number, epoch?: string }

export interface GrpcJobEvent {
  type: GrpcJobEventType
  status: GrpcJobStatus
  progress?: number
  step?: number
  total_steps?: number
  node?: string
  image_url?: string
  outputs: GrpcOutput[]
  error?: string
  attempt?: number
  at: Timestamp | null
}

export type WatchJobResponse = { seq: number, epoch: string } & (
  | { update?: 'snapshot', snapshot: JobState, event?: null }
  | { update?: 'event', event: GrpcJobEvent, snapshot?: null })

export interface JobCancelRequest { job_id: string }
export interface JobCancelResponse { job_id: string, status: GrpcJobStatus, previous_status: GrpcJobStatus, message: string }

export interface ListJobsRequest { limit?: number, offset: number }
export interface JobSummary {
  id: string
  prompt: string
  workflow: string
  model: string
  aspect_ratio: string
  batch_size: number
  seed: number
  status: GrpcJobStatus
  created_at: Timestamp | null
  updated_at: Timestamp | null
  output_path?: string
}
export interface ListJobsResponse { total: number, limit: number, offset: number, jobs: JobSummary[] }

export interface JobServiceHandlers extends grpc.UntypedServiceImplementation {
  Submit: grpc.handleUnaryCall<SubmitRequest, SubmitResponse>
  GetStatus: grpc.handleUnaryCall<GetStatusRequest, JobState>
  WatchJob: grpc.handleServerStreamingCall<WatchJobRequest, WatchJobResponse>
  CancelJob: grpc.handleUnaryCall<JobCancelRequest, JobCancelResponse>
  ListJobs: grpc.handleUnaryCall<ListJobsRequest, ListJobsResponse>
}

type Unary<Req, Res> = (req: Req, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall

export interface JobServiceClient extends grpc.Client {
  Submit: Unary<SubmitRequest, SubmitResponse>
  GetStatus: Unary<GetStatusRequest, JobState>
  WatchJob: (req: WatchJobRequest, options?: grpc.CallOptions) => grpc.ClientReadableStream<WatchJobResponse>
  CancelJob: Unary<JobCancelRequest, JobCancelResponse>
  ListJobs: Unary<ListJobsRequest, ListJobsResponse>
}

export function jobsDefinition (): PackageDefinition {
  return loadDefinition(JOBS_PROTO)
}

/** The JobService's .proto file, for server reflection. */
export function jobsProtoFile (): ProtoFile {
  return { path: join(PROTO_ROOT, JOBS_PROTO), name: JOBS_PROTO }
}

export function jobService (): grpc.ServiceDefinition {
  const pkg = grpc.loadPackageDefinition(jobsDefinition()) as any
  return pkg.comfyjobs.jobs.v1.JobService.service
}

export function createJobServiceClient (address: string, options: grpc.ChannelOptions = {}): JobServiceClient {
  const Client = grpc.makeGenericClientConstructor(jobService(), 'JobService')
  return new Client(address, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, ...options }) as unknown as JobServiceClient
}
