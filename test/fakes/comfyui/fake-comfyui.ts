import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { WebSocketServer, WebSocket } from 'ws'
import { nodeClasses, objectInfo, type CatalogOptions, type FakeModels } from './node-catalog.ts'
import { PromptExecutor, fileKey, type Message } from './prompt-executor.ts'
import { validatePrompt } from './prompt-validator.ts'

export interface FakeComfyOptions {
  models?: Partial<FakeModels>
  samplers?: string[]
  schedulers?: string[]
  comboForm?: CatalogOptions['comboForm']
  /** time per sampler step and per other node */
  stepMs?: number
  nodeMs?: number
  /** extra time per node of a class, e.g. `{ ImageBlur: 400 }` for a slow node */
  classMs?: Record<string, number>
}

export interface SeenRequest {
  method: string
  path: string
  query: URLSearchParams
  body: any
}

/** The type /view answers with: aiohttp guesses it from the name. */
function viewType (filename: string): string {
  const ext = filename.slice(filename.lastIndexOf('.') + 1).toLowerCase()
  return { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', wav: 'audio/x-wav', flac: 'audio/flac', mp4: 'video/mp4' }[ext] ?? 'application/octet-stream'
}

export const DEFAULT_MODELS: FakeModels = {
  checkpoints: ['sd_xl_base_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors'],
  diffusion_models: ['z-image/z-image-turbo-fp8-e4m3fn.safetensors', 'z_image_turbo_bf16.safetensors'],
  text_encoders: ['qwen_3_4b.safetensors'],
  vae: ['ae.safetensors'],
  loras: []
}

/**
 * A ComfyUI that speaks protocol §1–§5 over a real HTTP server and real WebSockets, on a free port
 * (or the same one again after a restart). Tests steer it: hold the queue, fail a node class, drop
 * or refuse sockets, crash it (queue and history lost).
 */
export class FakeComfyUI {
  port = 0
  readonly requests: SeenRequest[] = []
  readonly models: FakeModels
  samplers: string[]
  schedulers: string[]
  comboForm: CatalogOptions['comboForm']
  /** new WebSocket upgrades are refused while true */
  refuseSockets = false
  readonly executor: PromptExecutor
  /** output files: they live on disk in ComfyUI, so they outlive a restart */
  readonly files = new Map<string, Buffer>()
  #server: Server | null = null
  readonly #wss = new WebSocketServer({ noServer: true })
  readonly #clients = new Map<string, WebSocket>()

  constructor (options: FakeComfyOptions = {}) {
    this.models = { ...structuredClone(DEFAULT_MODELS), ...structuredClone(options.models ?? {}) }
    this.samplers = options.samplers ?? ['euler', 'euler_ancestral', 'dpmpp_2m', 'res_multistep']
    this.schedulers = options.schedulers ?? ['normal', 'karras', 'simple', 'sgm_uniform']
    this.comboForm = options.comboForm ?? 'classic'
    this.executor = new PromptExecutor({
      toClient: (id, message) => this.#send(this.#clients.get(id), message),
      toAll: message => { for (const ws of this.#clients.values()) this.#send(ws, message) },
      classes: () => this.#classes(),
      files: this.files
    })
    if (options.stepMs !== undefined) this.executor.stepMs = options.stepMs
    if (options.nodeMs !== undefined) this.executor.nodeMs = options.nodeMs
    if (options.classMs !== undefined) this.executor.classMs = options.classMs
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  get socketCount (): number {
    return [...this.#clients.values()].filter(ws => ws.readyState === WebSocket.OPEN).length
  }

  #classes () {
    return nodeClasses({ models: this.models, samplers: this.samplers, schedulers: this.schedulers, comboForm: this.comboForm, inputFiles: this.inputFiles })
  }

  /** Names in the input folder (top level), as the loader nodes list them. */
  get inputFiles (): string[] {
    return [...this.files.keys()].map(key => key.split('\u0000')).filter(([type, sub]) => type === 'input' && sub === '').map(([, , name]) => name)
  }

  /** An uploaded input file's bytes. */
  inputFile (name: string): Buffer | undefined {
    return this.files.get(fileKey('input', '', name))
  }

  async start (): Promise<void> {
    // a client that goes away mid-request (a worker killed during an upload) leaves nobody to answer;
    // its 'aborted' must not become an unhandled rejection that fails the test file
    const server = createServer((req, res) => { this.#handle(req, res).catch(() => res.destroy()) })
    server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if ((url.pathname !== '/ws' && url.pathname !== '/api/ws') || this.refuseSockets) {
        socket.destroy()
        return
      }
      this.#wss.handleUpgrade(req, socket, head, ws => this.#connected(ws, url.searchParams.get('clientId')))
    })
    server.listen(this.port, '127.0.0.1')
    await once(server, 'listening')
    this.port = (server.address() as { port: number }).port
    this.#server = server
  }

  /** The process dies: connections cut, queue, history and cache lost; nothing listens until start(). */
  async crash (): Promise<void> {
    this.executor.reset()
    for (const ws of this.#clients.values()) ws.terminate()
    this.#clients.clear()
    const server = this.#server
    this.#server = null
    if (server === null) return
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }

  async restart (): Promise<void> {
    await this.crash()
    await this.start()
  }

  async stop (): Promise<void> {
    await this.crash()
    this.#wss.close()
  }

  /** Cuts every WebSocket (frames meant for them are lost from now on). */
  dropSockets (): void {
    for (const ws of this.#clients.values()) ws.terminate()
    this.#clients.clear()
  }

  hold (): void {
    this.executor.held = true
  }

  release (): void {
    this.executor.held = false
    this.executor.kick()
  }

  seen (method: string, path: string): SeenRequest[] {
    return this.requests.filter(r => r.method === method && r.path === path)
  }

  /** Polls until pred holds (test helper). */
  async waitUntil (pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`fake ComfyUI: timed out waiting for ${what}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  #send (ws: WebSocket | undefined, message: Message): void {
    if (ws !== undefined && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message))
  }

  #connected (ws: WebSocket, clientId: string | null): void {
    const sid = clientId ?? randomUUID().replace(/-/g, '')
    this.#clients.set(sid, ws) // a second socket with the same id takes over; the old one hears nothing more
    ws.on('close', () => { if (this.#clients.get(sid) === ws) this.#clients.delete(sid) })
    let first = true
    ws.on('message', (data, isBinary) => {
      if (!first || isBinary) return
      first = false
      try {
        const msg = JSON.parse(data.toString())
        if (msg?.type === 'feature_flags') this.#send(ws, { type: 'feature_flags', data: { supports_preview_metadata: true, max_upload_size: 104857600.0 } })
      } catch {}
    })
    this.#send(ws, { type: 'status', data: { status: { exec_info: { queue_remaining: this.executor.queueRemaining } }, sid } })
    const running = this.executor.running
    if (running !== null && running.extra_data.client_id === sid && this.executor.currentNode !== null) {
      this.#send(ws, { type: 'executing', data: { node: this.executor.currentNode } })
    }
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.replace(/^\/api(?=\/)/, '')
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const method = req.method ?? 'GET'
    const origin = req.headers.origin
    if (method === 'POST' && path === '/upload/image') {
      if (origin !== undefined && new URL(origin).host !== req.headers.host) return this.#empty(res, 403)
      return this.#upload(req, Buffer.concat(chunks), res)
    }
    const text = Buffer.concat(chunks).toString()
    let body: any = null
    if (text !== '') {
      try { body = JSON.parse(text) } catch { body = undefined }
    }
    this.requests.push({ method, path, query: url.searchParams, body })
    if (origin !== undefined && new URL(origin).host !== req.headers.host) return this.#empty(res, 403)
    // /interrupt reads a body that is not JSON as {} (interrupt whatever runs); other routes fail as aiohttp does
    if (body === undefined && method === 'POST' && path === '/interrupt') body = null
    if (body === undefined && method === 'POST') return this.#empty(res, 500)
    this.#route(method, path, url.searchParams, body, res)
  }

  #route (method: string, path: string, query: URLSearchParams, body: any, res: ServerResponse): void {
    const ex = this.executor
    const key = `${method} ${path}`
    if (key === 'GET /system_stats') return this.#json(res, this.#systemStats())
    if (key === 'GET /object_info') return this.#json(res, Object.fromEntries(Object.entries(this.#classes()).map(([n, c]) => [n, objectInfo(n, c, this.comboForm)])))
    if (method === 'GET' && path.startsWith('/object_info/')) {
      const name = decodeURIComponent(path.slice('/object_info/'.length))
      const cls = this.#classes()[name]
      return this.#json(res, cls ? { [name]: objectInfo(name, cls, this.comboForm) } : {})
    }
    if (key === 'GET /models') return this.#json(res, Object.keys(this.models))
    if (method === 'GET' && path.startsWith('/models/')) {
      const list = this.models[decodeURIComponent(path.slice('/models/'.length)) as keyof FakeModels]
      return list ? this.#json(res, list) : this.#empty(res, 404)
    }
    if (key === 'GET /prompt') return this.#json(res, { exec_info: { queue_remaining: ex.queueRemaining } })
    if (key === 'POST /prompt') return this.#postPrompt(body, res)
    if (key === 'GET /queue') {
      const item = (i: typeof ex.pending[number]) => [i.number, i.prompt_id, i.prompt, i.extra_data, i.outputs]
      return this.#json(res, { queue_running: ex.running ? [item(ex.running)] : [], queue_pending: ex.pending.map(item) })
    }
    if (key === 'POST /queue') {
      if (body?.clear === true) ex.clear()
      if (Array.isArray(body?.delete)) ex.delete(body.delete.map(String))
      return this.#empty(res, 200)
    }
    if (key === 'POST /interrupt') {
      ex.interrupt(typeof body?.prompt_id === 'string' ? body.prompt_id : undefined)
      return this.#empty(res, 200)
    }
    if (key === 'GET /history') {
      const entries = [...ex.history.entries()]
      const max = query.has('max_items') ? Number(query.get('max_items')) : entries.length
      const offset = query.has('offset') ? Number(query.get('offset')) : Math.max(0, entries.length - max)
      return this.#json(res, Object.fromEntries(entries.slice(offset, offset + max)))
    }
    if (method === 'GET' && path.startsWith('/history/')) {
      const id = decodeURIComponent(path.slice('/history/'.length))
      const entry = ex.history.get(id)
      return this.#json(res, entry ? { [id]: entry } : {})
    }
    if (key === 'POST /history') {
      if (body?.clear === true) ex.history.clear()
      if (Array.isArray(body?.delete)) for (const id of body.delete) ex.history.delete(String(id))
      return this.#empty(res, 200)
    }
    if (key === 'GET /view') return this.#view(query, res)
    if (key === 'GET /features') return this.#json(res, { supports_preview_metadata: true, max_upload_size: 104857600, extension: { manager: { supports_v4: true } } })
    if (key === 'GET /embeddings' || key === 'GET /extensions') return this.#json(res, [])
    if (key === 'POST /free') return this.#empty(res, 200)
    this.#empty(res, 404)
  }

  #postPrompt (body: any, res: ServerResponse): void {
    if (body === null || body.prompt === undefined) {
      return this.#json(res, { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} }, 400)
    }
    const result = validatePrompt(body.prompt, this.#classes())
    if (!result.ok) return this.#json(res, result.body, 400)
    const ex = this.executor
    const number = typeof body.number === 'number' ? body.number : body.front === true ? -ex.nextNumber() : ex.nextNumber()
    const promptId = body.prompt_id !== undefined ? String(body.prompt_id) : randomUUID()
    const extraData = { ...(body.extra_data ?? {}), ...(body.client_id !== undefined ? { client_id: body.client_id } : {}), create_time: Date.now() }
    ex.enqueue({ number, prompt_id: promptId, prompt: body.prompt, extra_data: extraData, outputs: result.outputs })
    this.#json(res, { prompt_id: promptId, number, node_errors: result.node_errors })
  }

  /**
   * POST /upload/image as ComfyUI answers it: multipart `image` (a file with a name), `type`,
   * `subfolder`, `overwrite`. The same name with the same bytes is reused; with other bytes it
   * becomes `name (1).ext`, unless overwrite is "true" or "1".
   */
  async #upload (req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    let form: FormData
    try {
      form = await new Response(new Uint8Array(body), { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData()
    } catch {
      return this.#empty(res, 400)
    }
    this.requests.push({ method: 'POST', path: '/upload/image', query: new URLSearchParams(), body: Object.fromEntries([...form.keys()].map(k => [k, typeof form.get(k) === 'string' ? form.get(k) : '(file)'])) })
    const image = form.get('image')
    if (!(image instanceof Blob) || !(image as File).name) return this.#empty(res, 400)
    const type = String(form.get('type') ?? 'input') || 'input'
    const subfolder = String(form.get('subfolder') ?? '')
    const original = (image as File).name
    if (!['input', 'temp', 'output'].includes(type) || subfolder.startsWith('/') || subfolder.split('/').includes('..') || original.includes('/') || original.includes('..')) return this.#empty(res, 400)
    const overwrite = ['true', '1'].includes(String(form.get('overwrite')))
    const data = Buffer.from(await image.arrayBuffer())
    const dot = original.lastIndexOf('.')
    const [stem, ext] = dot > 0 ? [original.slice(0, dot), original.slice(dot)] : [original, '']
    let name = original
    for (let i = 1; !overwrite && this.files.has(fileKey(type, subfolder, name)) && !this.files.get(fileKey(type, subfolder, name))!.equals(data); i++) {
      name = `${stem} (${i})${ext}`
    }
    this.files.set(fileKey(type, subfolder, name), data)
    this.#json(res, { name, subfolder, type })
  }

  #view (query: URLSearchParams, res: ServerResponse): void {
    let filename = query.get('filename')
    let type = query.get('type') ?? 'output'
    const subfolder = query.get('subfolder') ?? ''
    if (filename === null || filename === '') return this.#empty(res, 404)
    const tagged = /\[(output|input|temp)\]$/.exec(filename)
    if (tagged) {
      type = tagged[1]
      filename = filename.slice(0, -tagged[0].length).trimEnd()
    }
    if (filename.startsWith('/') || filename.includes('..')) return this.#empty(res, 400)
    if (!['output', 'input', 'temp'].includes(type)) return this.#empty(res, 400)
    if (subfolder.startsWith('/') || subfolder.split('/').includes('..')) return this.#empty(res, 403)
    const data = this.files.get(fileKey(type, subfolder, filename))
    if (data === undefined) return this.#empty(res, 404)
    res.writeHead(200, { 'content-type': viewType(filename), 'content-disposition': `filename="${filename}"`, 'content-length': data.length })
    res.end(data)
  }

  #systemStats (): Record<string, unknown> {
    return {
      system: {
        os: 'posix',
        ram_total: 33554432000,
        ram_free: 16777216000,
        comfyui_version: '0.8.0',
        required_frontend_version: '1.27.10',
        installed_templates_version: '0.1.95',
        required_templates_version: '0.1.95',
        python_version: '3.12.3',
        pytorch_version: '2.8.0+cu128',
        embedded_python: false,
        argv: ['main.py', '--listen', '127.0.0.1', '--port', String(this.port)]
      },
      devices: [{ name: 'cuda:0 fake GPU', type: 'cuda', index: 0, vram_total: 25769803776, vram_free: 23622320128, torch_vram_total: 0, torch_vram_free: 0 }]
    }
  }

  #json (res: ServerResponse, value: unknown, status = 200): void {
    const body = JSON.stringify(value)
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  #empty (res: ServerResponse, status: number): void {
    res.writeHead(status, { 'content-length': 0 })
    res.end()
  }
}
