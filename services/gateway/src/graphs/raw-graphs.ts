import type { ApiGraph } from '@comfy-jobs/contracts'
import type { NodeCatalogue, NodeClass } from '@comfy-jobs/rpc'
import { AppError } from '../app-error.ts'
import { checkGraph, type GraphProblem } from './graph-check.ts'

/** More nodes than any real workflow has; bounds the cost of a check. */
const MAX_NODES = 5000

export interface RawGraphsOptions {
  allow: boolean
  maxBytes: number
  /** the node catalogues of the ComfyUI workers (one per distinct ComfyUI) */
  catalogues: () => NodeCatalogue[]
}

function refused (problems: GraphProblem[]): AppError {
  const details = problems.map(p => ({ field: p.node === null ? 'workflow_graph' : `workflow_graph.${p.node}`, message: p.node === null ? `workflow_graph ${p.message}` : p.message }))
  return new AppError('VALIDATION', { details, extra: { error: `Invalid request: ${details.map(d => d.message).join('; ')}` } })
}

/**
 * The rules for a client's own ComfyUI graph (`workflow_graph`): taken only when ALLOW_RAW_GRAPHS is
 * on, at most RAW_GRAPH_MAX_BYTES, and only when some ComfyUI worker's node catalogue validates it
 * (unknown class, missing input, a link to a missing node or output: 400 naming the node).
 */
export class RawGraphs {
  readonly #o: RawGraphsOptions
  /** classes by name, per catalogue digest */
  #indexed = new Map<string, Map<string, NodeClass>>()

  constructor (options: RawGraphsOptions) {
    this.#o = options
  }

  /** The graph, checked; throws a VALIDATION AppError naming the field and node. */
  check (graph: unknown): ApiGraph {
    if (!this.#o.allow) throw refused([{ node: null, message: 'is not taken here: raw graphs are off on this gateway (ALLOW_RAW_GRAPHS); submit a workflow by name' }])
    const bytes = Buffer.byteLength(JSON.stringify(graph) ?? '')
    if (bytes > this.#o.maxBytes) throw refused([{ node: null, message: `is ${bytes} bytes of JSON; at most ${this.#o.maxBytes} are taken (RAW_GRAPH_MAX_BYTES)` }])
    const catalogues = this.#o.catalogues()
    if (catalogues.length === 0) throw refused([{ node: null, message: 'cannot run here: no worker runs ComfyUI (ENGINE=comfyui), or none has reported its nodes yet' }])
    let fewest: GraphProblem[] | null = null
    for (const catalogue of catalogues) {
      const problems = checkGraph(graph, this.#classes(catalogue), { maxNodes: MAX_NODES })
      if (problems.length === 0) return graph as ApiGraph
      if (fewest === null || problems.length < fewest.length) fewest = problems
    }
    throw refused(fewest!)
  }

  #classes (catalogue: NodeCatalogue): Map<string, NodeClass> {
    let classes = this.#indexed.get(catalogue.digest)
    if (classes === undefined) {
      classes = new Map(catalogue.classes.map(c => [c.name, c]))
      // only the catalogues the workers hold now are kept
      const live = new Set(this.#o.catalogues().map(c => c.digest))
      for (const digest of this.#indexed.keys()) if (!live.has(digest)) this.#indexed.delete(digest)
      this.#indexed.set(catalogue.digest, classes)
    }
    return classes
  }
}
