import {
  BUILTIN_MODELS, BUILTIN_WORKFLOWS, DECLARED_KINDS, MAX_IMAGES_PER_INPUT, MAX_PROMPTS, PROMPT_RULES, TEXT_ONLY,
  type DeclaredKind, type PromptRule, type WorkflowDeclaration
} from '@comfy-jobs/contracts'
import type { WorkerInfo, WorkflowModels } from '@comfy-jobs/rpc'
import type { Runnable } from '../jobs/job-service.ts'

/** A workflow's declaration as a worker reports it, with the gateway's own bounds applied. */
export function declarationOf (w: WorkflowModels): WorkflowDeclaration {
  const inputs = (w.inputs ?? []).filter(i => (DECLARED_KINDS as readonly string[]).includes(i.kind))
  return {
    description: w.description ?? '',
    prompt: (PROMPT_RULES as readonly string[]).includes(w.prompt ?? '') ? w.prompt as PromptRule : TEXT_ONLY.prompt,
    max_prompts: Math.min(w.max_prompts ?? 0, MAX_PROMPTS),
    inputs: inputs.map(i => {
      const many = i.kind === 'images'
      const max = many ? Math.min(Math.max(i.max, 1), MAX_IMAGES_PER_INPUT) : 1
      return {
        name: i.name,
        kind: i.kind as DeclaredKind,
        required: i.required,
        min: many ? Math.min(i.min, max) : i.required ? 1 : 0,
        max,
        members: many ? i.members.slice(0, max) : [],
        description: i.description
      }
    })
  }
}

/**
 * Workflows and models some worker can run, which models each workflow takes (a worker's first is the
 * workflow's default) and what each takes as input; before any worker has answered, the built-in set.
 * A worker that does not list pairs takes every model it lists in every workflow it lists. Where
 * workers disagree on a workflow's inputs (or aliases), the first worker's declaration counts.
 */
export function runnableOf (infos: WorkerInfo[]): Runnable {
  const pairs: WorkflowModels[] = infos.length === 0
    ? BUILTIN_WORKFLOWS.map(workflow => ({ workflow, models: [...BUILTIN_MODELS] }))
    : infos.flatMap(i => i.runnable?.length ? i.runnable : i.workflows.map(workflow => ({ workflow, models: i.models })))
  const modelsByWorkflow = new Map<string, Set<string>>()
  const declarations = new Map<string, WorkflowDeclaration>()
  const modelFiles = new Map<string, string[]>()
  const aliases = new Map<string, string>()
  for (const pair of pairs) {
    const set = modelsByWorkflow.get(pair.workflow) ?? new Set<string>()
    for (const model of pair.models ?? []) set.add(model)
    modelsByWorkflow.set(pair.workflow, set)
    if (!declarations.has(pair.workflow)) {
      declarations.set(pair.workflow, declarationOf(pair))
      modelFiles.set(pair.workflow, pair.model_files ?? [])
      for (const alias of pair.aliases ?? []) if (!aliases.has(alias)) aliases.set(alias, pair.workflow)
    }
  }
  // a workflow's own name is never taken for another's alias
  for (const workflow of modelsByWorkflow.keys()) aliases.delete(workflow)
  return {
    workflows: new Set(modelsByWorkflow.keys()),
    models: new Set([...modelsByWorkflow.values()].flatMap(set => [...set])),
    modelsByWorkflow,
    declarations,
    modelFiles,
    aliases
  }
}
