import type { HistoryJob, JobInputs, JobParams, JobRecord } from '@comfy-jobs/contracts'
import type { JobWithOutputs } from './job-store.ts'
import { outputsView, timestampsView } from './status-view.ts'

/** A job's full record from its database row. */
export function jobRecordView (job: JobWithOutputs): JobRecord {
  const params = job.params as unknown as JobParams
  const outputs = outputsView(job)
  return {
    job_id: job.id,
    status: job.status,
    progress: job.progress,
    step: job.step,
    total_steps: job.totalSteps,
    prompt: job.prompt,
    workflow: job.workflow,
    model: job.model,
    params: { aspect_ratio: params.aspect_ratio, width: params.width, height: params.height, seed: params.seed, batch_size: params.batch_size },
    attempts: job.attempts,
    worker_id: job.workerId,
    error: job.error,
    image_url: outputs[0]?.url ?? null,
    outputs,
    inputs: (job.inputs ?? {}) as unknown as JobInputs,
    prompts: (job.prompts ?? []) as unknown as string[],
    ...timestampsView(job)
  }
}

/** One history entry, with the original system's field names. */
export function historyItemView (job: JobWithOutputs): HistoryJob {
  const params = job.params as unknown as JobParams
  return {
    id: job.id,
    prompt: job.prompt,
    workflow: job.workflow,
    model: job.model,
    aspect_ratio: params.aspect_ratio,
    batch_size: params.batch_size,
    seed: params.seed,
    status: job.status,
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    output_path: outputsView(job)[0]?.url ?? null,
    error: job.error
  }
}
