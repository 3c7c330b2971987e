import { setTimeout as sleep } from 'node:timers/promises'
import { encodePng } from '../../../services/worker/src/png.ts'
import type { NodeClass } from './node-catalog.ts'
import type { Graph } from './prompt-validator.ts'

export interface QueueItem {
  number: number
  prompt_id: string
  prompt: Graph
  extra_data: { client_id?: string } & Record<string, unknown>
  outputs: string[]
}

export interface ImageRef { filename: string, subfolder: string, type: 'output' | 'temp' }

export interface Failure {
  classType: string
  exceptionType: string
  message: string
}

export type Message = { type: string, data: Record<string, unknown> }

export interface ExecutorHooks {
  /** to one client's socket; dropped when it is not connected */
  toClient: (clientId: string, message: Message) => void
  toAll: (message: Message) => void
  classes: () => Record<string, NodeClass>
  files: Map<string, Buffer>
}

export function fileKey (type: string, subfolder: string, filename: string): string {
  return `${type}\u0000${subfolder}\u0000${filename}`
}

function isLink (value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1])
}

/** A node's cache signature: its class, literal inputs and the signatures of what it links to. */
function signatures (graph: Graph, order: string[]): Map<string, string> {
  const sigs = new Map<string, string>()
  for (const id of order) {
    const node = graph[id]
    const inputs = Object.entries(node.inputs ?? {}).sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, isLink(v) ? `link:${sigs.get(v[0])}:${v[1]}` : v])
    sigs.set(id, JSON.stringify([id, node.class_type, inputs]))
  }
  return sigs
}

/** Dependencies first: the order ComfyUI runs a graph in (only nodes the outputs need). */
function executionOrder (graph: Graph, outputs: string[]): string[] {
  const order: string[] = []
  const seen = new Set<string>()
  const visit = (id: string): void => {
    if (seen.has(id)) return
    seen.add(id)
    for (const value of Object.values(graph[id].inputs ?? {})) if (isLink(value)) visit(value[0])
    order.push(id)
  }
  for (const id of outputs) visit(id)
  return order
}

/** A picture that depends on seed and batch index: a real PNG of the latent's size. */
function renderPng (width: number, height: number, seed: number, index: number): Buffer {
  const pixels = new Uint8Array(width * height * 3)
  const a = (seed * 37 + index * 101) % 256
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3
      pixels[o] = (x * 255 / width + a) % 256
      pixels[o + 1] = (y * 255 / height + a * 3) % 256
      pixels[o + 2] = ((x + y) + seed) % 256
    }
  }
  return encodePng({ width, height, pixels }, { level: 1, text: { Software: 'fake ComfyUI (tests)' } })
}

/**
 * The prompt queue and the worker thread of a fake ComfyUI: one prompt at a time, lowest number
 * first, sending the frames of protocol §2 in their order and writing history before `executing null`.
 */
export class PromptExecutor {
  readonly pending: QueueItem[] = []
  running: QueueItem | null = null
  readonly history = new Map<string, Record<string, unknown>>()
  /** node id → signature and outputs of its last run */
  readonly #cache = new Map<string, { sig: string, values: unknown[], ui: Record<string, unknown> | null }>()
  #counter = 0
  #interrupted = false
  #generation = 0
  /** the node running now, for the reconnect `executing` frame */
  currentNode: string | null = null
  held = false
  stepMs = 20
  nodeMs = 2
  failOn: Failure | null = null
  /** every prompt that started executing, by id */
  readonly started: string[] = []
  readonly #h: ExecutorHooks

  constructor (hooks: ExecutorHooks) {
    this.#h = hooks
  }

  get queueRemaining (): number {
    return this.pending.length + (this.running ? 1 : 0)
  }

  nextNumber (): number {
    return this.#counter++
  }

  enqueue (item: QueueItem): void {
    this.pending.push(item)
    this.#status()
    this.kick()
  }

  /** Removes pending prompts; a running one is not touched. */
  delete (ids: string[]): void {
    const before = this.pending.length
    for (let i = this.pending.length - 1; i >= 0; i--) if (ids.includes(this.pending[i].prompt_id)) this.pending.splice(i, 1)
    if (this.pending.length !== before) this.#status()
  }

  clear (): void {
    this.pending.splice(0)
    this.#status()
  }

  interrupt (promptId?: string): void {
    if (this.running === null) return
    if (promptId === undefined || promptId === this.running.prompt_id) this.#interrupted = true
  }

  /** A restart: queue, history and cache gone, the running prompt dropped mid-way without a word. */
  reset (): void {
    this.#generation++
    this.pending.splice(0)
    this.running = null
    this.currentNode = null
    this.history.clear()
    this.#cache.clear()
    this.#counter = 0
    this.#interrupted = false
  }

  kick (): void {
    if (this.running !== null || this.held || this.pending.length === 0) return
    this.pending.sort((a, b) => a.number - b.number)
    const item = this.pending.shift()!
    this.running = item
    void this.#execute(item, this.#generation)
  }

  #status (): void {
    this.#h.toAll({ type: 'status', data: { status: { exec_info: { queue_remaining: this.queueRemaining } } } })
  }

  async #execute (item: QueueItem, generation: number): Promise<void> {
    const { prompt_id: promptId, prompt: graph } = item
    const clientId = item.extra_data.client_id
    const alive = () => this.#generation === generation
    const toClient = (type: string, data: Record<string, unknown>) => { if (clientId) this.#h.toClient(clientId, { type, data }) }
    const toClientOrAll = (type: string, data: Record<string, unknown>) => clientId ? this.#h.toClient(clientId, { type, data }) : this.#h.toAll({ type, data })
    const messages: Array<[string, Record<string, unknown>]> = []
    const logged = (type: string, data: Record<string, unknown>, send: typeof toClient) => { messages.push([type, data]); send(type, data) }
    const classes = this.#h.classes()

    this.#interrupted = false
    this.started.push(promptId)
    this.#status()
    logged('execution_start', { prompt_id: promptId, timestamp: Date.now() }, toClient)
    const order = executionOrder(graph, item.outputs)
    const sigs = signatures(graph, order)
    const cached = order.filter(id => this.#cache.get(id)?.sig === sigs.get(id))
    logged('execution_cached', { nodes: cached, prompt_id: promptId, timestamp: Date.now() }, toClient)

    const states: Record<string, Record<string, unknown>> = {}
    const progressState = (id: string, value: number, max: number, state: string) => {
      states[id] = { value, max, state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id }
      toClientOrAll('progress_state', { prompt_id: promptId, nodes: { ...states } })
    }
    const values = new Map<string, unknown[]>()
    const uiOutputs: Record<string, unknown> = {}
    const executed: string[] = []
    for (const id of cached) {
      const entry = this.#cache.get(id)!
      values.set(id, entry.values)
      if (entry.ui !== null) {
        uiOutputs[id] = entry.ui
        toClient('executed', { node: id, display_node: id, output: entry.ui, prompt_id: promptId })
      }
    }

    const end = (statusStr: 'success' | 'error') => {
      this.history.set(promptId, {
        prompt: [item.number, promptId, graph, item.extra_data, item.outputs],
        outputs: uiOutputs,
        status: { status_str: statusStr, completed: statusStr === 'success', messages },
        meta: Object.fromEntries(Object.keys(uiOutputs).map(id => [id, { node_id: id, display_node: id, parent_node: null, real_node_id: id }]))
      })
      this.running = null
      this.currentNode = null
      this.#status()
      toClient('executing', { node: null, prompt_id: promptId })
      this.kick()
    }
    const interrupted = (id: string) => {
      logged('execution_interrupted', { prompt_id: promptId, node_id: id, node_type: graph[id].class_type, executed: [...executed], timestamp: Date.now() }, toClientOrAll)
      end('error')
    }

    for (const id of order) {
      if (cached.includes(id)) continue
      await sleep(this.nodeMs)
      if (!alive()) return
      if (this.#interrupted) return interrupted(id)
      const node = graph[id]
      progressState(id, 0, 1, 'running')
      this.currentNode = id
      toClient('executing', { node: id, display_node: id, prompt_id: promptId })
      const inputs = Object.fromEntries(Object.entries(node.inputs ?? {}).map(([k, v]) => [k, isLink(v) ? values.get(v[0])?.[v[1]] : v]))
      if (this.failOn !== null && this.failOn.classType === node.class_type) {
        logged('execution_error', {
          prompt_id: promptId,
          node_id: id,
          node_type: node.class_type,
          executed: [...executed],
          exception_message: `${this.failOn.message}\n`,
          exception_type: this.failOn.exceptionType,
          traceback: ['  File "execution.py", line 496, in execute\n', `${this.failOn.exceptionType}: ${this.failOn.message}\n`],
          current_inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, [typeof v === 'object' ? String(v) : v]])),
          current_outputs: cached,
          timestamp: Date.now()
        }, toClient)
        return end('error')
      }
      if (node.class_type === 'KSampler') {
        const steps = Number(inputs.steps)
        for (let step = 1; step <= steps; step++) {
          await sleep(this.stepMs)
          if (!alive()) return
          if (this.#interrupted) return interrupted(id)
          progressState(id, step, steps, 'running')
          toClientOrAll('progress', { value: step, max: steps, prompt_id: promptId, node: id })
        }
      }
      const { values: out, ui } = this.#evaluate(node.class_type!, inputs, classes)
      values.set(id, out)
      this.#cache.set(id, { sig: sigs.get(id)!, values: out, ui })
      executed.push(id)
      progressState(id, 1, 1, 'finished')
      if (ui !== null) {
        uiOutputs[id] = ui
        toClient('executed', { node: id, display_node: id, output: ui, prompt_id: promptId })
      }
    }
    toClientOrAll('progress_state', { prompt_id: promptId, nodes: Object.fromEntries(order.map(id => [id, { value: 1, max: 1, state: 'finished', node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id }])) })
    logged('execution_success', { prompt_id: promptId, timestamp: Date.now() }, toClient)
    end('success')
  }

  #evaluate (classType: string, inputs: Record<string, any>, classes: Record<string, NodeClass>): { values: unknown[], ui: Record<string, unknown> | null } {
    switch (classType) {
      case 'EmptyLatentImage':
      case 'EmptySD3LatentImage':
        return { values: [{ width: inputs.width, height: inputs.height, batch: inputs.batch_size, seed: 0 }], ui: null }
      case 'KSampler':
        return { values: [{ ...inputs.latent_image, seed: Number(inputs.seed) }], ui: null }
      case 'VAEDecode':
        return { values: [{ ...inputs.samples }], ui: null }
      case 'SaveImage':
      case 'PreviewImage': {
        const image = inputs.images as { width: number, height: number, batch: number, seed: number }
        const type = classType === 'SaveImage' ? 'output' : 'temp'
        const prefix = String(inputs.filename_prefix ?? 'ComfyUI')
        const slash = prefix.lastIndexOf('/')
        const subfolder = slash >= 0 ? prefix.slice(0, slash) : ''
        const base = slash >= 0 ? prefix.slice(slash + 1) : prefix
        const images: ImageRef[] = []
        for (let i = 0; i < image.batch; i++) {
          const filename = `${base}_${String(this.#nextFileCounter(type, subfolder, base)).padStart(5, '0')}_.png`
          this.#h.files.set(fileKey(type, subfolder, filename), renderPng(image.width, image.height, image.seed, i))
          images.push({ filename, subfolder, type })
        }
        return { values: [], ui: { images } }
      }
      default:
        return { values: classes[classType].output.map(type => ({ type, of: classType })), ui: null }
    }
  }

  /** ComfyUI picks the counter after the highest file of that prefix in the folder. */
  #nextFileCounter (type: string, subfolder: string, base: string): number {
    let max = 0
    const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_(\\d{5})_\\.png$`)
    for (const key of this.#h.files.keys()) {
      const [t, s, name] = key.split('\u0000')
      const m = t === type && s === subfolder ? pattern.exec(name) : null
      if (m) max = Math.max(max, Number(m[1]))
    }
    return max + 1
  }
}
