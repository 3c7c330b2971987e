import { setTimeout as sleep } from 'node:timers/promises'
import { encodePng } from '../../../packages/media/src/png.ts'
import { decodePng } from '../../helpers/png.ts'
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

/**
 * An IMAGE of the model-free nodes: a batch of RGB frames of float32 in 0..1, as ComfyUI's tensors
 * are (so the fake's bytes come out as the real server's: SaveImage truncates 255·x to an integer).
 */
interface Pixels { width: number, height: number, frames: Float32Array[] }

function isPixels (value: unknown): value is Pixels {
  return typeof value === 'object' && value !== null && Array.isArray((value as Pixels).frames)
}

/** The first bytes of the image types PIL opens besides PNG: JPEG, RIFF (WebP), GIF. */
const IMAGE_SIGNATURES = [Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('RIFF'), Buffer.from('GIF8')]

/** What a node raises, as execution_error reports it. */
export class NodeFailure extends Error {
  constructor (readonly failure: Failure) {
    super(failure.message)
  }
}

/** EmptyImage: `color` is 0xRRGGBB. */
function emptyImage (width: number, height: number, batch: number, color: number): Pixels {
  const frame = new Float32Array(width * height * 3)
  const rgb = [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff].map(c => c / 255)
  for (let i = 0; i < frame.length; i += 3) frame.set(rgb, i)
  return { width, height, frames: Array.from({ length: batch }, () => frame.slice()) }
}

/** SaveImage's `np.clip(255. * image, 0, 255).astype(np.uint8)`, in float32. */
function toBytes (frame: Float32Array): Uint8Array {
  return Uint8Array.from(frame, v => Math.min(255, Math.max(0, Math.trunc(Math.fround(255 * v)))))
}

function mapPixels (image: Pixels, fn: (v: number) => number): Pixels {
  return { ...image, frames: image.frames.map(frame => frame.map(fn)) }
}

/** ImageScale, nearest neighbour (exact for one-colour images); a 0 side keeps the aspect ratio. */
function scaled (image: Pixels, width: number, height: number): Pixels {
  if (width === 0 && height === 0) return image
  const w = width || Math.round(image.width * height / image.height)
  const h = height || Math.round(image.height * width / image.width)
  const frames = image.frames.map(frame => {
    const out = new Float32Array(w * h * 3)
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const from = (Math.floor(y * image.height / h) * image.width + Math.floor(x * image.width / w)) * 3
        out.set(frame.subarray(from, from + 3), (y * w + x) * 3)
      }
    }
    return out
  })
  return { width: w, height: h, frames }
}

function renderBatch (image: { width: number, height: number, batch: number, seed: number }): Buffer[] {
  return Array.from({ length: image.batch }, (_, i) => renderPng(image.width, image.height, image.seed, i))
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
  /** extra time a node of a class takes (e.g. a slow ImageBlur) */
  classMs: Record<string, number> = {}
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
        progressState(id, 1, 1, 'finished')
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
      const node = graph[id]
      progressState(id, 0, 1, 'running')
      this.currentNode = id
      toClient('executing', { node: id, display_node: id, prompt_id: promptId })
      // ComfyUI checks the interrupt flag as a node starts (and at each sampler step), never inside a
      // node: a slow node that already runs finishes first, and the next one is where it stops
      if (this.#interrupted) return interrupted(id)
      const inputs = Object.fromEntries(Object.entries(node.inputs ?? {}).map(([k, v]) => [k, isLink(v) ? values.get(v[0])?.[v[1]] : v]))
      const failure = this.failOn !== null && this.failOn.classType === node.class_type ? this.failOn : null
      let result: ReturnType<PromptExecutor['evaluate']> | undefined
      let error: Failure | null = failure
      if (error === null) {
        await sleep(this.classMs[node.class_type!] ?? 0)
        if (!alive()) return
        if (node.class_type !== 'KSampler') {
          try {
            result = this.evaluate(node.class_type!, inputs, classes)
          } catch (err) {
            if (!(err instanceof NodeFailure)) throw err
            error = err.failure
          }
        }
      }
      if (error !== null) {
        logged('execution_error', {
          prompt_id: promptId,
          node_id: id,
          node_type: node.class_type,
          executed: [...executed],
          exception_message: `${error.message}\n`,
          exception_type: error.exceptionType,
          traceback: ['  File "execution.py", line 496, in execute\n', `${error.exceptionType}: ${error.message}\n`],
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
      const { values: out, ui } = result ?? this.evaluate(node.class_type!, inputs, classes)
      values.set(id, out)
      this.#cache.set(id, { sig: sigs.get(id)!, values: out, ui })
      executed.push(id)
      progressState(id, 1, 1, 'finished')
      if (ui !== null) {
        uiOutputs[id] = ui
        toClient('executed', { node: id, display_node: id, output: ui, prompt_id: promptId })
      }
    }
    logged('execution_success', { prompt_id: promptId, timestamp: Date.now() }, toClient)
    end('success')
  }

  /** A node's outputs and UI dict; throws a NodeFailure for what ComfyUI would raise. */
  evaluate (classType: string, inputs: Record<string, any>, classes: Record<string, NodeClass>): { values: unknown[], ui: Record<string, unknown> | null } {
    switch (classType) {
      case 'EmptyLatentImage':
      case 'EmptySD3LatentImage':
        return { values: [{ width: inputs.width, height: inputs.height, batch: inputs.batch_size, seed: 0 }], ui: null }
      case 'KSampler':
        return { values: [{ ...inputs.latent_image, seed: Number(inputs.seed) }], ui: null }
      case 'VAEDecode':
        return { values: [{ ...inputs.samples }], ui: null }
      case 'EmptyImage':
        return { values: [emptyImage(inputs.width, inputs.height, inputs.batch_size, inputs.color)], ui: null }
      case 'ImageBlur': // the fake does not blur: exact for the one-colour images the tests use
        return { values: [inputs.image], ui: null }
      case 'ImageInvert':
        return { values: [mapPixels(inputs.image, v => 1 - v)], ui: null }
      case 'ImageScale':
        return { values: [scaled(inputs.image, inputs.width, inputs.height)], ui: null }
      case 'LoadImage':
        return { values: [this.#loadImage(String(inputs.image)), { mask: true }], ui: null }
      case 'LoadAudio':
        return { values: [{ audio: String(inputs.audio) }], ui: null }
      case 'ImageStitch': {
        const [a, b] = [inputs.image1, inputs.image2] as Array<{ width: number, height: number, seed: number } | undefined>
        return { values: [{ width: a!.width + (b?.width ?? 0), height: Math.max(a!.height, b?.height ?? 0), batch: 1, seed: a!.seed }], ui: null }
      }
      case 'PrimitiveString':
      case 'PrimitiveInt':
        return { values: [inputs.value], ui: null }
      case 'SaveImage':
      case 'PreviewImage':
      case 'SaveAnimatedPNG': {
        const type = classType === 'PreviewImage' ? 'temp' : 'output'
        const prefix = String(inputs.filename_prefix ?? 'ComfyUI')
        const slash = prefix.lastIndexOf('/')
        const subfolder = slash >= 0 ? prefix.slice(0, slash) : ''
        const base = slash >= 0 ? prefix.slice(slash + 1) : prefix
        const pngs = isPixels(inputs.images)
          ? inputs.images.frames.map(frame => encodePng({ width: inputs.images.width, height: inputs.images.height, pixels: toBytes(frame) }, { level: 1 }))
          : renderBatch(inputs.images)
        const images: ImageRef[] = pngs.map(png => {
          const filename = `${base}_${String(this.#nextFileCounter(type, subfolder, base)).padStart(5, '0')}_.png`
          this.#h.files.set(fileKey(type, subfolder, filename), png)
          return { filename, subfolder, type }
        })
        // an animated PNG's first frame is a PNG like any other; ComfyUI marks the list as animated
        return { values: [], ui: classType === 'SaveAnimatedPNG' ? { images, animated: [true] } : { images } }
      }
      default:
        return { values: classes[classType].output.map(type => ({ type, of: classType })), ui: null }
    }
  }

  /**
   * What PIL makes of an input file: a PNG's pixels; another image type (not decoded here) as a
   * picture of its size to render; anything else raises as PIL does.
   */
  #loadImage (name: string): Pixels | { width: number, height: number, batch: number, seed: number, source: string } {
    const data = this.#h.files.get(fileKey('input', '', name)) ?? Buffer.alloc(0)
    const picture = { batch: 1, seed: 0, source: name }
    try {
      const { width, height, pixels } = decodePng(data)
      return { ...picture, width, height, frames: [Float32Array.from(pixels, v => v / 255)] }
    } catch {}
    const png = data.length >= 24 && data.readUInt32BE(12) === 0x49484452
    if (png || IMAGE_SIGNATURES.some(sig => data.subarray(0, sig.length).equals(sig))) {
      return { ...picture, width: png ? data.readUInt32BE(16) : 64, height: png ? data.readUInt32BE(20) : 64 }
    }
    throw new NodeFailure({ classType: 'LoadImage', exceptionType: 'PIL.UnidentifiedImageError', message: `cannot identify image file '<ComfyUI>/input/${name}'` })
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
