import { ancestors, isLink, type ApiGraph } from '@comfy-jobs/contracts'
import type { NodeClass, NodeInput } from '@comfy-jobs/rpc'

/** What is wrong with a raw graph, naming the node (null: the graph as a whole). */
export interface GraphProblem {
  node: string | null
  message: string
}

export interface GraphLimits {
  maxNodes: number
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** `*` and ComfyUI's dynamic V3 types (COMFY_MATCHTYPE_V3, COMFY_AUTOGROW_V3, …) match anything. */
function isAny (type: string): boolean {
  return type === '*' || (type.startsWith('COMFY_') && type.endsWith('_V3'))
}

/** ComfyUI's validate_node_input: equal, either side any, or comma-separated unions that share a type. */
function compatible (produced: string, expected: string): boolean {
  if (isAny(produced) || isAny(expected) || produced === expected) return true
  const accepted = new Set(expected.split(','))
  return produced.split(',').some(type => accepted.has(type))
}

function describe (id: string, node: { class_type: string }): string {
  return `node ${id} (${node.class_type})`
}

/** Types an input takes as a literal; any other comes from a link. */
const LITERAL_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO'])

/** A literal's fault against its input spec, or null. Only numbers are range-checked (ComfyUI converts the rest itself). */
function literalProblem (spec: NodeInput, value: unknown): string | null {
  if (!LITERAL_TYPES.has(spec.type) && !isAny(spec.type)) return `takes ${spec.type} from a link ["<node id>", <output index>], not the value ${JSON.stringify(value).slice(0, 60)}`
  if (spec.type === 'COMBO') {
    if (spec.upload || spec.options.length === 0) return null
    return spec.options.includes(String(value)) ? null : `${JSON.stringify(value)} is not one of ComfyUI's values (${spec.options.slice(0, 10).join(', ')}${spec.options.length > 10 ? ', …' : ''})`
  }
  if ((spec.type === 'INT' || spec.type === 'FLOAT') && typeof value === 'number') {
    if (spec.min != null && value < spec.min) return `${value} is below the minimum ${spec.min}`
    if (spec.max != null && value > spec.max) return `${value} is above the maximum ${spec.max}`
  }
  return null
}

/**
 * Checks an API-format graph against a worker's node catalogue, as ComfyUI's validate_prompt would,
 * so that a graph ComfyUI would refuse is a 400 at submit: every node has a known class; the graph has
 * an output node; every node an output needs has its required inputs, links to nodes and outputs that
 * exist and carry the right type, and numbers and choices ComfyUI takes.
 */
export function checkGraph (graph: unknown, classes: ReadonlyMap<string, NodeClass>, limits: GraphLimits): GraphProblem[] {
  if (!isObject(graph) || Object.keys(graph).length === 0) {
    return [{ node: null, message: 'must be an API-format graph: an object of node id → {class_type, inputs}' }]
  }
  const ids = Object.keys(graph)
  if (ids.length > limits.maxNodes) return [{ node: null, message: `has ${ids.length} nodes; at most ${limits.maxNodes} are taken` }]
  const problems: GraphProblem[] = []
  for (const id of ids) {
    const node = graph[id]
    if (!isObject(node) || typeof node.class_type !== 'string' || node.class_type === '') {
      problems.push({ node: id, message: `node ${id} has no class_type` })
    } else if (!isObject(node.inputs)) {
      problems.push({ node: id, message: `${describe(id, node as { class_type: string })} has no inputs object` })
    } else if (!classes.has(node.class_type)) {
      problems.push({ node: id, message: `${describe(id, node as { class_type: string })}: the workers' ComfyUI has no such node class` })
    }
  }
  if (problems.length > 0) return problems
  const g = graph as ApiGraph
  const outputs = ids.filter(id => classes.get(g[id].class_type)!.output_node)
  if (outputs.length === 0) return [{ node: null, message: 'has no output node (SaveImage, SaveVideo, PreviewImage, …), so ComfyUI would run nothing' }]
  const needed = new Set(outputs.flatMap(id => [...ancestors(g, id)]))
  for (const id of ids.filter(id => needed.has(id))) {
    const node = g[id]
    const cls = classes.get(node.class_type)!
    for (const spec of cls.inputs) {
      const value = node.inputs[spec.name]
      const where = `${describe(id, node)} input ${spec.name}`
      if (value === undefined || value === null) {
        if (spec.required && !isAny(spec.type)) problems.push({ node: id, message: `${where} is required` })
        continue
      }
      if (isLink(value)) {
        const [from, index] = value
        const source = g[from]
        if (source === undefined) {
          problems.push({ node: id, message: `${where} links to node ${from}, which is not in the graph` })
          continue
        }
        const produced = classes.get(source.class_type)!.outputs
        if (index < 0 || index >= produced.length) {
          problems.push({ node: id, message: `${where} links to output ${index} of ${describe(from, source)}, which has ${produced.length === 0 ? 'no outputs' : `outputs 0..${produced.length - 1}`}` })
        } else if (!compatible(produced[index], spec.type)) {
          problems.push({ node: id, message: `${where} takes ${spec.type} but output ${index} of ${describe(from, source)} is ${produced[index]}` })
        }
        continue
      }
      const fault = literalProblem(spec, value)
      if (fault !== null) problems.push({ node: id, message: `${where}: ${fault}` })
    }
  }
  return problems
}
