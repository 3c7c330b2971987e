import { INPUT_NAME_PATTERN, type DeclaredKind, type WorkflowDeclaration } from './workflow-inputs.ts'

/** The workflow name of a job that runs a client's own graph (`workflow_graph`) instead of a template. */
export const RAW_GRAPH_WORKFLOW = 'raw_graph'

/** The loader classes whose file a raw graph's job may send, what they load and into which input. */
const LOADERS: Record<string, { kind: DeclaredKind, input: string }> = {
  LoadImage: { kind: 'image', input: 'image' },
  LoadImageMask: { kind: 'mask', input: 'image' },
  LoadAudio: { kind: 'audio', input: 'audio' }
}

/** A media input of a raw graph: one loader node's file. */
export interface RawGraphInput {
  /** `node_<id>` (characters an input name cannot have become `_`) */
  name: string
  kind: DeclaredKind
  node: string
  input: string
}

const INPUT_NAME = new RegExp(INPUT_NAME_PATTERN)

/**
 * A raw graph's media inputs, the same mechanism as a template's: each loader node (LoadImage,
 * LoadImageMask, LoadAudio) is an optional input named `node_<id>`; a job that sends a file for it has
 * the file uploaded to ComfyUI and its name put in the loader, one that does not keeps the graph's file.
 */
export function rawGraphInputs (graph: ApiGraph): RawGraphInput[] {
  const inputs: RawGraphInput[] = []
  for (const [node, { class_type: classType }] of Object.entries(graph)) {
    const loader = LOADERS[classType]
    const name = `node_${node.replace(/[^A-Za-z0-9_]/g, '_')}`
    if (loader === undefined || !INPUT_NAME.test(name) || inputs.some(i => i.name === name)) continue
    inputs.push({ name, kind: loader.kind, node, input: loader.input })
  }
  return inputs
}

/** What a job of a raw graph takes besides the graph: a prompt if the client likes (a label for its history), and its loaders' files. */
export function rawGraphDeclaration (graph: ApiGraph): WorkflowDeclaration {
  return {
    description: 'a ComfyUI API-format graph of the client\'s own',
    prompt: 'optional',
    max_prompts: 0,
    inputs: rawGraphInputs(graph).map(({ name, kind, node }) => ({ name, kind, required: false, min: 0, max: 1, members: [], description: `the file of loader node ${node}` }))
  }
}

/** Why a worker without ComfyUI cannot run a raw graph. */
export const RAW_GRAPH_NEEDS_COMFYUI = 'a raw graph (workflow_graph) runs only on a worker with ENGINE=comfyui'

/** ComfyUI's API-format graph (shared/reference/comfyui-protocol.md §6): node id → class and inputs. */
export type ApiGraph = Record<string, ApiNode>
export interface ApiNode {
  class_type: string
  inputs: Record<string, unknown>
  _meta?: { title?: string }
}

/** An input value that is a link: `["<source node id>", <output index>]`. */
export function isLink (value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1])
}

/** The node and every node it depends on through links (the nodes ComfyUI runs for it). */
export function ancestors (graph: ApiGraph, id: string): Set<string> {
  const seen = new Set<string>()
  const stack = [id]
  while (stack.length > 0) {
    const next = stack.pop()!
    if (seen.has(next) || graph[next] === undefined) continue
    seen.add(next)
    for (const value of Object.values(graph[next].inputs ?? {})) if (isLink(value)) stack.push(value[0])
  }
  return seen
}
