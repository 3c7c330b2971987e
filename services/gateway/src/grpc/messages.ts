import type { JobRecord, JobStatus, JobSummary as RestJobSummary, StatusResponse } from '@comfy-jobs/contracts'
import type { GrpcJobEvent, GrpcJobEventType, GrpcJobStatus, GrpcOutput, JobState, JobSummary, Timestamp } from '@comfy-jobs/rpc'

// REST records → protobuf messages. Names stay the same; statuses become enum names, ISO times become
// Timestamps, and what REST has as null or leaves out is left unset.

export function grpcStatus (status: JobStatus): GrpcJobStatus {
  return `JOB_STATUS_${status.toUpperCase()}` as GrpcJobStatus
}

export function timestamp (iso: string | null | undefined): Timestamp | null {
  if (!iso) return null
  const ms = Date.parse(iso)
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }
}

function present<T> (value: T | null | undefined): T | undefined {
  return value === null ? undefined : value
}

export function jobState (s: StatusResponse): JobState {
  return {
    job_id: s.job_id,
    status: grpcStatus(s.status),
    progress: s.progress,
    image_url: present(s.image_url),
    error: present(s.error),
    source: s.source === 'redis' ? 'STATUS_SOURCE_REDIS' : 'STATUS_SOURCE_DATABASE',
    step: s.step,
    total_steps: s.total_steps,
    node: s.node,
    outputs: s.outputs ?? [],
    created_at: timestamp(s.created_at),
    started_at: timestamp(s.started_at),
    finished_at: timestamp(s.finished_at),
    updated_at: timestamp(s.updated_at),
    waiting_reason: s.waiting_reason
  }
}

/** A job's full record (read from the database) as the JobState a status read would give. */
export function jobStateOfRecord (r: JobRecord): JobState {
  return {
    job_id: r.job_id,
    status: grpcStatus(r.status),
    progress: r.progress,
    image_url: present(r.image_url),
    error: present(r.error),
    source: 'STATUS_SOURCE_DATABASE',
    step: present(r.step),
    total_steps: present(r.total_steps),
    outputs: r.outputs,
    created_at: timestamp(r.created_at),
    started_at: timestamp(r.started_at),
    finished_at: timestamp(r.finished_at),
    updated_at: timestamp(r.updated_at),
    waiting_reason: r.waiting_reason
  }
}

function optionalInt (value: string | undefined): number | undefined {
  return value === undefined || value === '' ? undefined : Number(value)
}

/** One entry of a job's event log (string fields, as stored) as a JobEvent. */
export function jobEvent (fields: Record<string, string>): GrpcJobEvent {
  return {
    type: `JOB_EVENT_TYPE_${(fields.type ?? 'unspecified').toUpperCase()}` as GrpcJobEventType,
    status: fields.status ? grpcStatus(fields.status as JobStatus) : 'JOB_STATUS_UNSPECIFIED',
    progress: optionalInt(fields.progress),
    step: optionalInt(fields.step),
    total_steps: optionalInt(fields.total_steps),
    node: fields.node || undefined,
    image_url: fields.image_url || undefined,
    outputs: fields.outputs ? JSON.parse(fields.outputs) as GrpcOutput[] : [],
    error: fields.error || undefined,
    attempt: optionalInt(fields.attempt),
    at: timestamp(fields.at)
  }
}

export function jobSummary (j: RestJobSummary): JobSummary {
  return {
    ...j,
    status: grpcStatus(j.status),
    created_at: timestamp(j.created_at),
    updated_at: timestamp(j.updated_at),
    output_path: present(j.output_path)
  }
}
