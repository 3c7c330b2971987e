import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  DECLARED_KINDS, INPUT_NAME_PATTERN, MAX_IMAGES_PER_INPUT, MAX_PROMPTS, PROMPT_RULES,
  type DeclaredKind, type MediaInputDeclaration, type PromptRule, type WorkflowDeclaration
} from '@comfy-jobs/contracts'

/** The shipped templates: services/worker/workflows/<name>/{graph.json,manifest.json}. */
export const SHIPPED_WORKFLOWS_DIR = fileURLToPath(new URL('../../workflows', import.meta.url))

/** A workflow's declaration with what only a worker needs: the model files its template names. */
export interface WorkerDeclaration extends WorkflowDeclaration {
  model_files: string[]
  /** other names a submit may use for the workflow (the original pages' names) */
  aliases: string[]
}

/** A workflow name as a submit spells it (GenerateBody.workflow: at most 64 characters). */
const WORKFLOW_NAME = /^[A-Za-z0-9_-]{1,64}$/

const NAME = new RegExp(INPUT_NAME_PATTERN)

function isObject (value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function count (value: unknown, what: string, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw new Error(`manifest ${what} must be an integer from ${min} to ${max}`)
  return value as number
}

function mediaInput (name: string, spec: unknown, taken: Set<string>): MediaInputDeclaration {
  const what = `media.${name}`
  if (!NAME.test(name)) throw new Error(`manifest ${what}: an input name must match ${INPUT_NAME_PATTERN}`)
  if (!isObject(spec)) throw new Error(`manifest ${what} must be an object with a kind`)
  if (!(DECLARED_KINDS as readonly string[]).includes(spec.kind)) throw new Error(`manifest ${what}.kind must be one of ${DECLARED_KINDS.join(', ')}`)
  const kind = spec.kind as DeclaredKind
  if (spec.description !== undefined && typeof spec.description !== 'string') throw new Error(`manifest ${what}.description must be a string`)
  const description = spec.description ?? ''
  if (kind !== 'images') {
    if (spec.required !== undefined && typeof spec.required !== 'boolean') throw new Error(`manifest ${what}.required must be true or false`)
    const required = spec.required ?? true
    return { name, kind, required, min: required ? 1 : 0, max: 1, members: [], description }
  }
  const max = count(spec.max, `${what}.max`, 1, MAX_IMAGES_PER_INPUT)
  const min = count(spec.min ?? 1, `${what}.min`, 0, max)
  const members = spec.members ?? []
  if (!Array.isArray(members) || members.length > max || members.some(m => typeof m !== 'string' || !NAME.test(m))) {
    throw new Error(`manifest ${what}.members must be a list of at most ${max} input names`)
  }
  for (const member of members) {
    if (taken.has(member)) throw new Error(`manifest ${what}.members: the name "${member}" is used twice`)
    taken.add(member)
  }
  return { name, kind, required: min > 0, min, max, members, description }
}

/**
 * What a manifest declares a job of the workflow takes (prompt rule, media inputs, prompts list) and
 * the model files it names; throws naming the fault. Node targets are the ComfyUI engine's concern.
 */
export function parseDeclaration (manifest: unknown): WorkerDeclaration {
  if (!isObject(manifest)) throw new Error('manifest.json is not a JSON object')
  const prompt = manifest.prompt ?? 'required'
  if (!(PROMPT_RULES as readonly string[]).includes(prompt)) throw new Error(`manifest prompt must be one of ${PROMPT_RULES.join(', ')}`)
  const media = manifest.media ?? {}
  if (!isObject(media)) throw new Error('manifest media must be an object of input name → {kind, …}')
  const taken = new Set(Object.keys(media))
  const inputs = Object.entries(media).map(([name, spec]) => mediaInput(name, spec, taken))
  let maxPrompts = 0
  if (manifest.prompts !== undefined) {
    if (!isObject(manifest.prompts)) throw new Error('manifest prompts must be {"max": <n>}')
    maxPrompts = count(manifest.prompts.max, 'prompts.max', 1, MAX_PROMPTS)
  }
  const aliases = manifest.aliases ?? []
  if (!Array.isArray(aliases) || aliases.some(a => typeof a !== 'string' || !WORKFLOW_NAME.test(a))) throw new Error('manifest aliases must be a list of workflow names (1-64 letters, digits, _ or -)')
  const files = manifest.requires ?? []
  if (!Array.isArray(files) || files.some(f => typeof f !== 'string' || f === '')) throw new Error('manifest requires must be a list of model file names')
  return {
    description: typeof manifest.description === 'string' ? manifest.description : '',
    prompt: prompt as PromptRule,
    max_prompts: maxPrompts,
    inputs,
    model_files: files,
    aliases
  }
}

/** The declarations of the shipped workflows with these names (the built-in engine's list), read from their manifests. */
export function shippedDeclarations (names: readonly string[]): Map<string, WorkerDeclaration> {
  return new Map(names.map(name => {
    const path = join(SHIPPED_WORKFLOWS_DIR, name, 'manifest.json')
    try {
      return [name, parseDeclaration(JSON.parse(readFileSync(path, 'utf8')))]
    } catch (err) {
      throw new Error(`workflow "${name}" (${path}): ${(err as Error).message}`)
    }
  }))
}
