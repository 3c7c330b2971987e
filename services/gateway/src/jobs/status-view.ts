import type { JobStatus, StatusResponse } from '@comfy-jobs/contracts'
import type { JobWithOutputs } from './job-store.ts'
import type { StatusRow } from './status-rows.ts'

type Outputs = NonNullable<StatusResponse['outputs']>

function optionalInt (value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  return Number.isInteger(n) ? n : undefined
}

function orNull (value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value
}

/** The status response from the Redis hash. */
export function statusFromCache (hash: Record<string, string>): StatusResponse {
  const view: StatusResponse = {
    job_id: hash.job_id,
    status: hash.status as JobStatus,
    progress: optionalInt(hash.progress) ?? 0,
    image_url: orNull(hash.image_url),
    error: orNull(hash.error),
    source: 'redis'
  }
  const step = optionalInt(hash.step)
  const totalSteps = optionalInt(hash.total_steps)
  if (step !== undefined) view.step = step
  if (totalSteps !== undefined) view.total_steps = totalSteps
  if (hash.node) view.node = hash.node
  if (hash.outputs) view.outputs = JSON.parse(hash.outputs) as Outputs
  for (const field of ['created_at', 'started_at', 'finished_at', 'updated_at'] as const) {
    if (hash[field]) view[field] = hash[field]
  }
  return view
}

/** A job's outputs as the API lists them: where to get each, and what it is. */
export function outputsView (job: Pick<StatusRow, 'outputs'>): Outputs {
  return job.outputs.map(o => ({
    index: o.index,
    url: `/outputs/${o.filename}`,
    kind: o.kind,
    mime: o.mime,
    width: o.width,
    height: o.height,
    bytes: o.bytes,
    ...(o.durationMs !== null ? { duration_ms: o.durationMs } : {}),
    ...(o.frames !== null ? { frames: o.frames } : {})
  }))
}

/** A row's timestamps as the API shows them (ISO 8601, null when not yet). */
export function timestampsView (job: Pick<JobWithOutputs, 'createdAt' | 'startedAt' | 'finishedAt' | 'updatedAt'>) {
  return {
    created_at: job.createdAt.toISOString(),
    started_at: job.startedAt?.toISOString() ?? null,
    finished_at: job.finishedAt?.toISOString() ?? null,
    updated_at: job.updatedAt.toISOString()
  }
}

/** The status response from the database row. */
export function statusFromRow (job: StatusRow): StatusResponse {
  const outputs = outputsView(job)
  const view: StatusResponse = {
    job_id: job.id,
    status: job.status,
    progress: job.progress,
    image_url: outputs[0]?.url ?? null,
    error: job.error,
    source: 'database',
    ...timestampsView(job)
  }
  if (job.step !== null) view.step = job.step
  if (job.totalSteps !== null) view.total_steps = job.totalSteps
  if (outputs.length > 0) view.outputs = outputs
  return view
}
