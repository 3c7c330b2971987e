import { capabilityQueueName, RAW_GRAPH_WORKFLOW, type QueuedJob } from '@comfy-jobs/contracts'
import type { WorkerInfo } from '@comfy-jobs/rpc'

/** Whether a worker (by its GetInfo) runs the workflow with the model ('' = the workflow's default). */
export function canRun (info: WorkerInfo, workflow: string, model: string): boolean {
  const pairs = info.runnable?.length ? info.runnable : info.workflows.map(w => ({ workflow: w, models: info.models }))
  return pairs.some(p => p.workflow === workflow && (model === '' || (p.models ?? []).includes(model)))
}

/**
 * The queue a job goes to: the queue itself (null) when every live worker can run it, or when none is
 * known yet (as before capabilities were known); otherwise its capability queue, which only workers
 * that run its workflow with its model consume — and where it waits while none is live.
 * Raw graphs stay on the queue itself: only ComfyUI workers are offered them at submit.
 */
export function routeJob (queueName: string, live: WorkerInfo[], job: QueuedJob): string | null {
  if (job.graph !== undefined || job.workflow === RAW_GRAPH_WORKFLOW) return null
  if (live.every(info => canRun(info, job.workflow, job.model))) return null
  return capabilityQueueName(queueName, job.workflow, job.model)
}

/** Why a queued job is not running yet when no live worker can run it; null when one can. */
export function waitingReason (live: WorkerInfo[], workflow: string, model: string): string | null {
  if (workflow === RAW_GRAPH_WORKFLOW) return null
  if (live.some(info => canRun(info, workflow, model))) return null
  const what = model === '' ? `workflow ${workflow}` : `workflow ${workflow} with model ${model}`
  return live.length === 0
    ? `waiting for a worker: no worker is live`
    : `waiting for a worker that can run ${what}: none of the ${live.length} live worker(s) can`
}
