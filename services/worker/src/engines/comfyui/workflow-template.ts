import { isLink, type ApiGraph } from '@comfy-jobs/contracts'
import { parseDeclaration, type WorkerDeclaration } from '../workflow-declaration.ts'

/** A node input that receives a job parameter. */
export interface InputTarget {
  node: string
  input: string
}

export interface TemplateModel {
  /** the file name the model input receives, as ComfyUI lists it (subfolders with `/`) */
  file: string
  aliases: string[]
}

/** The job parameters a manifest can route into the graph; each to one or more node inputs. */
export const PARAMETERS = ['prompt', 'negative_prompt', 'seed', 'width', 'height', 'batch_size', 'model'] as const
export type Parameter = (typeof PARAMETERS)[number]
/** Every template names where the model goes; the prompt too unless the workflow takes none. */
const REQUIRED: readonly Parameter[] = ['model']
const NUMERIC: ReadonlySet<Parameter> = new Set(['seed', 'width', 'height', 'batch_size'])

/** Core classes that save or show media; a graph needs one of them (or manifest.outputs) to produce anything. */
export const OUTPUT_CLASSES: ReadonlySet<string> = new Set([
  'SaveImage', 'PreviewImage', 'SaveAnimatedWEBP', 'SaveAnimatedPNG', 'SaveWEBM', 'SaveVideo',
  'SaveAudio', 'SaveAudioMP3', 'SaveAudioOpus', 'PreviewAudio'
])

export interface WorkflowTemplate {
  name: string
  description: string
  /** where it was loaded from, for messages */
  source: string
  graph: ApiGraph
  inputs: Partial<Record<Parameter, InputTarget[]>>
  /** what a job takes (manifest prompt, media, prompts) and the model files it names */
  declaration: WorkerDeclaration
  /**
   * Per media input, its slots (one for image, mask and audio; `max` for images), each the loader
   * inputs (LoadImage `image`, LoadAudio `audio`) that receive the uploaded file's name. A slot left
   * empty has its loader nodes removed from the graph, with every input that links to them.
   */
  slots: Record<string, InputTarget[][]>
  /** model key → file */
  models: Record<string, TemplateModel>
  /** the nodes whose images are the job's outputs, in output order */
  outputs: string[]
}

export const TEMPLATE_NAME = /^[A-Za-z0-9_-]{1,64}$/
const MODEL_NAME = /^[A-Za-z0-9_.-]{1,128}$/

/** A template that cannot work; the message names the template and the fault. */
export class TemplateError extends Error {
  constructor (name: string, source: string, fault: string) {
    super(`workflow template "${name}" (${source}): ${fault}`)
    this.name = 'TemplateError'
  }
}

function isObject (value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function checkGraph (graph: unknown): asserts graph is ApiGraph {
  if (!isObject(graph) || Object.keys(graph).length === 0) throw new Error('graph.json is not an API-format graph (an object of node id → {class_type, inputs})')
  for (const [id, node] of Object.entries(graph)) {
    if (!isObject(node) || typeof node.class_type !== 'string' || node.class_type === '') throw new Error(`graph node "${id}" has no class_type`)
    if (!isObject(node.inputs)) throw new Error(`graph node "${id}" (${node.class_type}) has no inputs object`)
    for (const [input, value] of Object.entries(node.inputs)) {
      if (isLink(value) && !(value[0] in graph)) throw new Error(`graph node "${id}" input "${input}" links to node "${value[0]}", which is not in the graph`)
    }
  }
}

function targets (graph: ApiGraph, what: string, spec: unknown, kind: 'number' | 'string'): InputTarget[] {
  const list = Array.isArray(spec) ? spec : [spec]
  if (list.length === 0) throw new Error(`manifest ${what} names no node input`)
  return list.map(entry => {
    if (!isObject(entry) || typeof entry.node !== 'string' || typeof entry.input !== 'string') {
      throw new Error(`manifest ${what} must be {"node": "<id>", "input": "<name>"} or a list of them`)
    }
    const node = graph[entry.node]
    if (node === undefined) throw new Error(`manifest ${what} points at node "${entry.node}", which is not in the graph`)
    if (!(entry.input in node.inputs)) {
      throw new Error(`manifest ${what} points at input "${entry.input}" of node "${entry.node}" (${node.class_type}), which has no such input (it has: ${Object.keys(node.inputs).join(', ')})`)
    }
    const current = node.inputs[entry.input]
    if (isLink(current)) throw new Error(`manifest ${what} points at input "${entry.input}" of node "${entry.node}", which is a link, not a value`)
    if (typeof current !== kind) throw new Error(`manifest ${what} points at input "${entry.input}" of node "${entry.node}", which holds a ${typeof current}, not a ${kind}`)
    return { node: entry.node, input: entry.input }
  })
}

/** A manifest from before media declarations: `inputs.images` {name → target} becomes required image inputs. */
function legacyImages (manifest: Record<string, any>): Record<string, any> {
  const images = manifest.inputs?.images
  if (images === undefined || manifest.media !== undefined) return manifest
  if (!isObject(images)) throw new Error('manifest inputs.images must be an object of image name → node input')
  const { images: _legacy, ...parameters } = manifest.inputs
  return { ...manifest, inputs: parameters, media: Object.fromEntries(Object.entries(images).map(([name, target]) => [name, { kind: 'image', target }])) }
}

/** Each declared media input's slots: `target` for one file, `slots` (one per image, `max` of them) for images. */
function mediaSlots (graph: ApiGraph, media: Record<string, any>, declaration: WorkerDeclaration): Record<string, InputTarget[][]> {
  const slots: Record<string, InputTarget[][]> = {}
  const owner = new Map<string, string>()
  for (const input of declaration.inputs) {
    const spec = media[input.name]
    const what = `media.${input.name}`
    let list: InputTarget[][]
    if (input.kind === 'images') {
      if (!Array.isArray(spec.slots) || spec.slots.length !== input.max) throw new Error(`manifest ${what}.slots must list ${input.max} node inputs, one per image (max ${input.max})`)
      list = spec.slots.map((slot: unknown, i: number) => targets(graph, `${what}.slots[${i}]`, slot, 'string'))
    } else {
      if (spec.target === undefined) throw new Error(`manifest ${what}.target must name the node input that receives the file`)
      list = [targets(graph, `${what}.target`, spec.target, 'string')]
    }
    for (const [i, slot] of list.entries()) {
      for (const { node } of slot) {
        const other = owner.get(node)
        if (other !== undefined && other !== `${what}[${i}]`) throw new Error(`manifest ${what}: node "${node}" also loads ${other}; each file needs its own loader node`)
        owner.set(node, `${what}[${i}]`)
      }
    }
    slots[input.name] = list
  }
  return slots
}

function models (spec: unknown): Record<string, TemplateModel> {
  if (!isObject(spec) || Object.keys(spec).length === 0) throw new Error('manifest models must name at least one model: {"<key>": {"file": "<file name>"}}')
  const out: Record<string, TemplateModel> = {}
  const seen = new Set<string>()
  for (const [key, value] of Object.entries(spec)) {
    if (!isObject(value) || typeof value.file !== 'string' || value.file === '') throw new Error(`manifest model "${key}" has no file`)
    const aliases = value.aliases ?? []
    if (!Array.isArray(aliases) || aliases.some(a => typeof a !== 'string')) throw new Error(`manifest model "${key}" aliases must be a list of names`)
    for (const name of [key, ...aliases]) {
      if (!MODEL_NAME.test(name)) throw new Error(`manifest model name "${name}" must be 1-128 letters, digits, _ . -`)
      if (seen.has(name)) throw new Error(`manifest model name "${name}" is used twice`)
      seen.add(name)
    }
    out[key] = { file: value.file, aliases }
  }
  return out
}

function outputs (graph: ApiGraph, spec: unknown): string[] {
  if (spec === undefined) {
    const found = Object.keys(graph).filter(id => OUTPUT_CLASSES.has(graph[id].class_type))
    if (found.length === 0) throw new Error(`the graph has no output node (${[...OUTPUT_CLASSES].join(' or ')}); add one, or name the output nodes in manifest.outputs`)
    return found
  }
  if (!Array.isArray(spec) || spec.length === 0 || spec.some(id => typeof id !== 'string')) throw new Error('manifest outputs must be a non-empty list of node ids')
  for (const id of spec) if (!(id in graph)) throw new Error(`manifest outputs names node "${id}", which is not in the graph`)
  return spec
}

/** Checks a template's graph and manifest against each other; throws a TemplateError naming the fault. */
export function parseTemplate (name: string, source: string, graph: unknown, manifest: unknown): WorkflowTemplate {
  try {
    if (!TEMPLATE_NAME.test(name)) throw new Error('the folder name must be 1-64 letters, digits, _ or -')
    checkGraph(graph)
    if (!isObject(manifest)) throw new Error('manifest.json is not a JSON object')
    if (!isObject(manifest.inputs)) throw new Error('manifest has no inputs object')
    const m = legacyImages(manifest)
    const declaration = parseDeclaration(m)
    const inputs: WorkflowTemplate['inputs'] = {}
    for (const key of Object.keys(m.inputs)) {
      if (!(PARAMETERS as readonly string[]).includes(key)) throw new Error(`manifest inputs.${key} is not a parameter (known: ${PARAMETERS.join(', ')}); media inputs go in manifest media`)
    }
    for (const parameter of PARAMETERS) {
      const spec = m.inputs[parameter]
      if (spec === undefined) {
        if (REQUIRED.includes(parameter) || (parameter === 'prompt' && declaration.prompt !== 'none')) throw new Error(`manifest inputs.${parameter} is missing`)
        continue
      }
      inputs[parameter] = targets(graph, `inputs.${parameter}`, spec, NUMERIC.has(parameter) ? 'number' : 'string')
    }
    const slots = mediaSlots(graph, m.media ?? {}, declaration)
    return {
      name,
      description: typeof manifest.description === 'string' ? manifest.description : '',
      source,
      graph,
      inputs,
      declaration,
      slots,
      models: models(manifest.models),
      outputs: outputs(graph, manifest.outputs)
    }
  } catch (err) {
    if (err instanceof TemplateError) throw err
    throw new TemplateError(name, source, (err as Error).message)
  }
}

/** Model key or alias → the key and its file; undefined when the template does not take that model. */
export function resolveModel (template: WorkflowTemplate, name: string): { key: string, file: string } | undefined {
  for (const [key, model] of Object.entries(template.models)) {
    if (key === name || model.aliases.includes(name)) return { key, file: model.file }
  }
  return undefined
}
