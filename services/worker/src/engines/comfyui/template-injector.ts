import { isLink, type QueuedJob } from '@comfy-jobs/contracts'
import type { ApiGraph } from './comfy-http.ts'
import type { Parameter, WorkflowTemplate } from './workflow-template.ts'

/** Per media input, the names ComfyUI gave the job's uploaded files, in slot order. */
export type UploadedInputs = Record<string, string[]>

/** The text for the prompt input: the prompt and the segments' prompts, one per line; '' when there is none. */
function promptText (job: QueuedJob): string {
  return [job.prompt, ...job.prompts ?? []].filter(p => p.trim() !== '').join('\n')
}

/**
 * The graph to send for a job: a copy of the template's graph with the job's values in the inputs the
 * manifest names, and nothing else changed. Parameters the job does not carry (a negative prompt, or
 * a prompt where the workflow's is optional) keep the template's values. Each uploaded input file's
 * name goes into its slot's loader; a slot with no file has its loader nodes removed, with every input
 * that linked to them (the template makes those optional inputs).
 */
export function injectJob (template: WorkflowTemplate, job: QueuedJob, modelFile: string, uploaded: UploadedInputs = {}): ApiGraph {
  const graph = structuredClone(template.graph)
  const text = promptText(job)
  const values: Partial<Record<Parameter, string | number>> = {
    ...(text !== '' ? { prompt: text } : {}),
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
  const removed = new Set<string>()
  for (const [name, slots] of Object.entries(template.slots)) {
    const files = uploaded[name] ?? []
    slots.forEach((targets, i) => {
      for (const { node, input } of targets) {
        if (i < files.length) graph[node].inputs[input] = files[i]
        else removed.add(node)
      }
    })
  }
  for (const id of removed) delete graph[id]
  if (removed.size > 0) {
    for (const node of Object.values(graph)) {
      for (const [input, value] of Object.entries(node.inputs)) if (isLink(value) && removed.has(value[0])) delete node.inputs[input]
    }
  }
  return graph
}
