import type { ApiGraph } from './comfy-http.ts'
import type { EngineProgress } from '../engine.ts'

/** Sampler steps of a node, when the graph states them as a literal `steps` input. */
function samplerSteps (node: ApiGraph[string]): number {
  const steps = node.inputs.steps
  return typeof steps === 'number' && Number.isInteger(steps) && steps > 0 ? steps : 0
}

/**
 * One monotonic 0..100 over the whole graph. Every node weighs 1, and a sampler weighs its steps on
 * top, so a run spends most of its bar where it spends most of its time. Cached and executed nodes
 * count as done; the node running counts by its `progress` value/max. Stays below 100 until the run
 * is over (the finished event says 100).
 */
export class ProgressTracker {
  readonly totalSteps: number
  readonly #graph: ApiGraph
  readonly #weight = new Map<string, number>()
  readonly #total: number
  readonly #done = new Set<string>()
  #current: string | null = null
  #currentFraction = 0
  #lastPercent = 0
  #last: EngineProgress | null = null

  constructor (graph: ApiGraph) {
    this.#graph = graph
    let total = 0
    let steps = 0
    for (const [id, node] of Object.entries(graph)) {
      const s = samplerSteps(node)
      this.#weight.set(id, 1 + s)
      total += 1 + s
      steps += s
    }
    this.#total = total
    this.totalSteps = steps
  }

  cached (nodes: string[]): void {
    for (const id of nodes) this.#done.add(id)
  }

  /** `executing {node}`: the previous node is done and this one starts (null: all done). */
  executing (node: string | null): void {
    if (this.#current !== null) this.#done.add(this.#current)
    this.#current = node
    this.#currentFraction = 0
  }

  progress (node: string, value: number, max: number): void {
    if (node !== this.#current) this.executing(node)
    if (max > 0) this.#currentFraction = Math.max(this.#currentFraction, Math.min(1, value / max))
  }

  executed (node: string): void {
    this.#done.add(node)
  }

  /** The progress now, or null when it would tell nothing new. */
  snapshot (): EngineProgress | null {
    let done = 0
    let step = 0
    for (const id of this.#done) {
      done += this.#weight.get(id) ?? 0
      step += samplerSteps(this.#graph[id] ?? { class_type: '', inputs: {} })
    }
    const current = this.#current !== null && !this.#done.has(this.#current) ? this.#current : null
    if (current !== null) {
      done += (this.#weight.get(current) ?? 0) * this.#currentFraction
      step += Math.floor(samplerSteps(this.#graph[current] ?? { class_type: '', inputs: {} }) * this.#currentFraction)
    }
    this.#lastPercent = Math.max(this.#lastPercent, Math.min(99, Math.floor(done * 100 / Math.max(1, this.#total))))
    const next: EngineProgress = {
      progress: this.#lastPercent,
      step: Math.min(step, this.totalSteps),
      total_steps: this.totalSteps,
      node: current !== null ? this.#graph[current]?.class_type ?? current : ''
    }
    const last = this.#last
    if (last !== null && last.progress === next.progress && last.step === next.step && last.node === next.node) return null
    this.#last = next
    return next
  }
}
