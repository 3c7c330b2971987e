import type { Logger } from 'pino'
import type { WorkflowModels } from '@comfy-jobs/rpc'
import type { ComfyHttpClient } from './comfy-http.ts'
import type { WorkflowTemplate } from './workflow-template.ts'

/** The options of a combo input in /object_info, in either form: `[[a, b], {…}]` or `["COMBO", {options: [a, b]}]`. */
export function comboOptions (info: Record<string, any> | undefined, input: string): string[] | null {
  const spec = info?.input?.required?.[input] ?? info?.input?.optional?.[input]
  if (!Array.isArray(spec)) return null
  if (Array.isArray(spec[0])) return spec[0].map(String)
  if (spec[0] === 'COMBO' && Array.isArray(spec[1]?.options)) return spec[1].options.map(String)
  return null
}

/**
 * Which of each template's models ComfyUI has, read from the model input's loader class in
 * /object_info/{class}. Until ComfyUI has answered once, every declared model counts (jobs can then
 * queue and wait for it; a file that turns out missing fails the job with ComfyUI's own 400).
 */
export class ModelCatalogue {
  readonly #templates: Map<string, WorkflowTemplate>
  readonly #http: ComfyHttpClient
  readonly #log: Logger
  /** template → names (keys and aliases) whose file ComfyUI lists; null before the first read */
  #available: Map<string, string[]> | null = null

  constructor (templates: Map<string, WorkflowTemplate>, http: ComfyHttpClient, logger: Logger) {
    this.#templates = templates
    this.#http = http
    this.#log = logger.child({ component: 'model-catalogue' })
  }

  get known (): boolean {
    return this.#available !== null
  }

  /** Reads the loaders' file lists; throws when ComfyUI cannot be asked (the last list stays). */
  async refresh (): Promise<void> {
    const infos = new Map<string, Record<string, any>>()
    for (const template of this.#templates.values()) {
      const classType = template.graph[template.inputs.model![0].node].class_type
      if (!infos.has(classType)) infos.set(classType, (await this.#http.objectInfo(classType))[classType])
    }
    const available = new Map<string, string[]>()
    for (const template of this.#templates.values()) {
      const target = template.inputs.model![0]
      const classType = template.graph[target.node].class_type
      const files = comboOptions(infos.get(classType), target.input)
      const names: string[] = []
      const missing: string[] = []
      for (const [key, model] of Object.entries(template.models)) {
        if (files?.includes(model.file)) names.push(key, ...model.aliases)
        else missing.push(`${key} (${model.file})`)
      }
      if (files === null) this.#log.warn({ workflow: template.name, class_type: classType, input: target.input }, 'ComfyUI does not list files for the model input; the template\'s models count as missing')
      const before = this.#available?.get(template.name)
      if (before === undefined || before.join() !== names.join()) {
        this.#log.info({ workflow: template.name, models: names, missing }, 'models available for workflow')
      }
      available.set(template.name, names)
    }
    this.#available = available
  }

  runnable (): WorkflowModels[] {
    return [...this.#templates.values()].map(t => ({
      workflow: t.name,
      models: this.#available?.get(t.name) ?? Object.entries(t.models).flatMap(([key, m]) => [key, ...m.aliases]),
      ...t.declaration
    }))
  }
}
