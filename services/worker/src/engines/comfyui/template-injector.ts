import type { QueuedJob } from '@comfy-jobs/contracts'
import type { ApiGraph } from './comfy-http.ts'
import type { Parameter, WorkflowTemplate } from './workflow-template.ts'

/**
 * The graph to send for a job: a copy of the template's graph with the job's values in the inputs the
 * manifest names, and nothing else changed. Parameters the job does not carry (a negative prompt,
 * input images) keep the template's values.
 */
export function injectJob (template: WorkflowTemplate, job: QueuedJob, modelFile: string): ApiGraph {
  const graph = structuredClone(template.graph)
  const values: Partial<Record<Parameter, string | number>> = {
    prompt: job.prompt,
    seed: job.params.seed,
    width: job.params.width,
    height: job.params.height,
    batch_size: job.params.batch_size,
    model: modelFile
  }
  for (const [parameter, targets] of Object.entries(template.inputs) as Array<[Parameter, WorkflowTemplate['inputs'][Parameter]]>) {
    const value = values[parameter]
    if (value === undefined || targets === undefined) continue
    for (const { node, input } of targets) graph[node].inputs[input] = value
  }
  return graph
}
