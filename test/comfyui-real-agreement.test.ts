// The fake ComfyUI agrees with a real ComfyUI 0.8.0 on every fact in shared/comfyui-real/README.md:
// each scenario runs against both servers (model-free graphs, which both can run) and what a client
// observes (frames, bodies, history) must be the same.
import { randomInt, randomUUID } from 'node:crypto'
import t from 'tap'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { RealComfyUI } from './helpers/real-comfyui.ts'
import { WsRecorder } from './helpers/ws-recorder.ts'
import { decodePng } from './helpers/png.ts'
import { encodePng } from '../packages/media/src/png.ts'

const real = await RealComfyUI.start(t)
// a blur of 31 pixels at 96×96 takes the real server about 2 s on a CPU; the fake takes 600 ms
const fake = new FakeComfyUI({ nodeMs: 1, classMs: { ImageBlur: 600 } })
await fake.start()
t.teardown(() => fake.stop())
const SERVERS = [{ name: 'fake', url: fake.url }, { name: 'real', url: real.url }]

type Frame = { type: string, data: any }

async function post (url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number, text: string, json: any }> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let json: any = null
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, text, json }
}
async function get (url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string, json: any }> {
  const res = await fetch(`${url}${path}`, { headers })
  const text = await res.text()
  let json: any = null
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, text, json }
}
async function socket (url: string, clientId: string): Promise<WsRecorder> {
  const ws = await WsRecorder.open(`${url.replace('http', 'ws')}/ws?clientId=${clientId}`)
  await ws.waitFor(f => f.type === 'status' && f.data.sid === clientId, 'connect status')
  return ws
}
async function until (pred: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
const ended = (ws: WsRecorder, id: string) => ws.waitFor(f => f.type === 'executing' && f.data.node === null && f.data.prompt_id === id, 'executing null', 60_000)
/** A prompt's frames as `type` or `type:node`, without progress_state (its ticks are timing, not protocol). */
const trace = (frames: Frame[], id: string) => frames
  .filter(f => f.type !== 'progress_state' && (f.data?.prompt_id === id))
  .map(f => f.type === 'executing' || f.type === 'executed' ? `${f.type}:${f.data.node}` : f.type === 'execution_interrupted' ? `${f.type}:${f.data.node_id}` : f.type)

/** A fresh colour per graph: ComfyUI caches node outputs across prompts, and a cached node does not run. */
const colour = () => randomInt(1, 0xffffff)
const chain = (color: number, prefix: string) => ({
  1: { class_type: 'EmptyImage', inputs: { width: 96, height: 96, batch_size: 1, color } },
  2: { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 31, sigma: 10.0 } },
  3: { class_type: 'ImageBlur', inputs: { image: ['2', 0], blur_radius: 31, sigma: 9.9 } },
  4: { class_type: 'ImageInvert', inputs: { image: ['3', 0] } },
  9: { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: prefix } }
})
const quick = (color: number, prefix: string) => ({
  1: { class_type: 'EmptyImage', inputs: { width: 32, height: 24, batch_size: 1, color } },
  4: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  9: { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: prefix } }
})

/** Runs fn against each server; resolves with the results by server name. */
async function both<T> (fn: (url: string, name: string) => Promise<T>): Promise<Record<string, T>> {
  const out: Record<string, T> = {}
  for (const { name, url } of SERVERS) out[name] = await fn(url, name)
  return out
}

t.test('a model-free run: the same frames, the same history, the same pixels', async t => {
  const color = colour()
  const seen = await both(async url => {
    const clientId = randomUUID()
    const ws = await socket(url, clientId)
    const id = (await post(url, '/prompt', { prompt: quick(color, 'agree/run'), client_id: clientId })).json.prompt_id
    await ended(ws, id)
    ws.close()
    const entry = (await get(url, `/history/${id}`)).json[id]
    const image = entry.outputs['9'].images[0]
    const png = await fetch(`${url}/view?filename=${image.filename}&subfolder=${image.subfolder}&type=output`).then(async r => Buffer.from(await r.arrayBuffer()))
    const { width, height, pixels } = decodePng(png)
    return {
      trace: trace(ws.frames, id),
      status: entry.status.status_str,
      messages: entry.status.messages.map((m: any[]) => m[0]),
      image,
      pixel: [width, height, ...pixels.subarray(0, 3)],
      extra: Object.keys(entry.prompt[3]).sort(),
      createTime: typeof entry.prompt[3].create_time
    }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real.trace, ['execution_start', 'execution_cached', 'executing:1', 'executing:4', 'executing:9', 'executed:9', 'execution_success', 'executing:null'])
  const inverted = [255 - (color >> 16), 255 - ((color >> 8) & 0xff), 255 - (color & 0xff)]
  t.same(seen.real.pixel.slice(0, 2), [32, 24])
  t.ok(seen.real.pixel.slice(2).every((v: number, i: number) => Math.abs(v - inverted[i]) <= 1), `the colour inverted (${seen.real.pixel.slice(2)} for ${inverted}: float32 truncated)`)
  t.equal(seen.real.createTime, 'number', 'fact 9: extra_data.create_time (0.8.0)')
})

t.test('facts 1 and 2: an interrupt lands at the next node start (a running node finishes first); /interrupt for another prompt does nothing; a body that is not JSON interrupts whatever runs', async t => {
  const color = colour()
  const seen = await both(async url => {
    const clientId = randomUUID()
    const ws = await socket(url, clientId)
    const id = (await post(url, '/prompt', { prompt: chain(color, 'agree/chain'), client_id: clientId })).json.prompt_id
    await ws.waitFor(f => f.type === 'executing' && f.data.node === '2' && f.data.prompt_id === id, 'executing 2', 30_000)
    const other = await post(url, '/interrupt', { prompt_id: randomUUID() })
    await ws.waitFor(f => f.type === 'executing' && f.data.node === '3' && f.data.prompt_id === id, 'executing 3', 30_000)
    const notJson = await post(url, '/interrupt', 'stop, please', { 'content-type': 'text/plain' })
    const end = await ws.waitFor(f => f.type === 'execution_interrupted' && f.data.prompt_id === id, 'execution_interrupted', 30_000)
    await ended(ws, id)
    ws.close()
    const entry = (await get(url, `/history/${id}`)).json[id]
    return {
      other: [other.status, other.text],
      notJson: [notJson.status, notJson.text],
      trace: trace(ws.frames, id),
      interrupted: { node_id: end.data.node_id, node_type: end.data.node_type, executed: [...end.data.executed].sort() },
      history: [entry.status.status_str, entry.status.completed, entry.status.messages.at(-1)[0], entry.outputs]
    }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real.trace, ['execution_start', 'execution_cached', 'executing:1', 'executing:2', 'executing:3', 'executing:4', 'execution_interrupted:4', 'executing:null'],
    'node 3 ran to its end after the interrupt; node 4 started and was interrupted')
  t.same(seen.real.interrupted, { node_id: '4', node_type: 'ImageInvert', executed: ['1', '2', '3'] })
  t.same(seen.real.other, [200, ''])
})

t.test('facts 3 and 4: 200 with node_errors when one output is valid (the valid one runs), 400 with empty details when none is; a missing LoadImage file is custom_validation_failed', async t => {
  const color = colour()
  const seen = await both(async url => {
    const clientId = randomUUID()
    const ws = await socket(url, clientId)
    const partial = { ...quick(color, 'agree/partial'), 11: { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: -5 } }, 19: { class_type: 'SaveImage', inputs: { images: ['11', 0], filename_prefix: 'agree/never' } } }
    const accepted = await post(url, '/prompt', { prompt: partial, client_id: clientId })
    const id = accepted.json.prompt_id
    await ended(ws, id)
    ws.close()
    const ran = Object.keys((await get(url, `/history/${id}`)).json[id].outputs)
    const invalid = await post(url, '/prompt', { prompt: { ...quick(color, 'agree/x'), 1: { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 20_000_000 } } } })
    const missing = await post(url, '/prompt', { prompt: { 1: { class_type: 'LoadImage', inputs: { image: 'no-such-file.png' } }, 9: { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'agree/x' } } } })
    return { partial: [accepted.status, accepted.json.node_errors], ran, invalid: [invalid.status, invalid.json], missing: [missing.status, missing.json] }
  })
  t.same(seen.fake, seen.real)
  t.equal(seen.real.partial[0], 200)
  t.same(Object.keys(seen.real.partial[1]), ['11'])
  t.same(seen.real.ran, ['9'], 'only the valid output ran')
  t.same(seen.real.invalid[0], 400)
  t.same(seen.real.invalid[1].error, { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} })
  t.equal(seen.real.missing[1].node_errors['1'].errors[0].type, 'custom_validation_failed')
})

t.test('facts 5 and 6: a duplicate prompt_id runs again and history keeps the last run; a cached re-run names the old file and history may be complete before its frames', async t => {
  const color = colour()
  const seen = await both(async url => {
    const clientId = randomUUID()
    const ws = await socket(url, clientId)
    const id = randomUUID()
    const first = await post(url, '/prompt', { prompt: quick(color, 'agree/dup'), client_id: clientId, prompt_id: id })
    await ended(ws, id)
    const before = (await get(url, `/history/${id}`)).json[id]
    ws.frames.splice(0)
    const again = await post(url, '/prompt', { prompt: quick(color, 'agree/dup'), client_id: clientId, prompt_id: id })
    await ended(ws, id)
    ws.close()
    const after = (await get(url, `/history/${id}`)).json[id]
    return {
      answers: [first.status, again.status, again.json.prompt_id === id],
      trace: trace(ws.frames, id),
      cached: ws.frames.find(f => f.type === 'execution_cached')?.data.nodes.sort(),
      sameFile: after.outputs['9'].images[0].filename === before.outputs['9'].images[0].filename,
      keptLast: after.prompt[0] > before.prompt[0]
    }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real.trace, ['execution_start', 'execution_cached', 'executed:9', 'execution_success', 'executing:null'], 'fact 6: no executing for a cached node')
  t.same(seen.real.cached, ['1', '4', '9'])
  t.same([seen.real.sameFile, seen.real.keptLast], [true, true], 'the old file; history holds the last run (the later queue number)')
})

t.test('fact 7: deleting a pending prompt answers 200 with an empty body and leaves no history; deleting the running one does nothing', async t => {
  const seen = await both(async url => {
    const running = (await post(url, '/prompt', { prompt: chain(colour(), 'agree/running') })).json.prompt_id
    const pending = (await post(url, '/prompt', { prompt: quick(colour(), 'agree/pending') })).json.prompt_id
    const queue = async () => (await get(url, '/queue')).json
    await until(async () => (await queue()).queue_running.some((i: any[]) => i[1] === running), 'the first prompt running')
    const deleted = await post(url, '/queue', { delete: [pending] })
    const deleteRunning = await post(url, '/queue', { delete: [running] })
    const after = await queue()
    await post(url, '/interrupt', { prompt_id: running })
    await until(async () => (await queue()).queue_running.length === 0, 'ComfyUI idle')
    return {
      deleted: [deleted.status, deleted.text],
      deleteRunning: [deleteRunning.status, deleteRunning.text],
      queue: [after.queue_running.map((i: any[]) => i[1] === running), after.queue_pending.length, after.queue_running[0].length],
      history: (await get(url, `/history/${pending}`)).json
    }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real, { deleted: [200, ''], deleteRunning: [200, ''], queue: [[true], 0, 5], history: {} })
})

t.test('fact 8: reconnecting with the same clientId gets status{sid}, then executing{node} without prompt_id; the old socket goes silent', async t => {
  const color = colour()
  const seen = await both(async url => {
    const clientId = randomUUID()
    const first = await socket(url, clientId)
    const id = (await post(url, '/prompt', { prompt: chain(color, 'agree/reconnect'), client_id: clientId })).json.prompt_id
    await first.waitFor(f => f.type === 'executing' && f.data.node === '2', 'executing 2', 30_000)
    const second = await WsRecorder.open(`${url.replace('http', 'ws')}/ws?clientId=${clientId}`)
    await second.waitFor(f => f.type === 'executing', 'the reconnect executing frame')
    const heard = first.frames.length
    const hello = second.frames.slice(0, 2)
    await ended(second, id)
    first.close()
    second.close()
    // the node running at the reconnect: 2 or 3 (both are slow blurs), as timing has it
    return { hello: [hello[0].type, hello[0].data.sid === clientId, hello[1].type, Object.keys(hello[1].data), ['2', '3'].includes(hello[1].data.node)], oldSocketLater: first.frames.length - heard }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real, { hello: ['status', true, 'executing', ['node'], true], oldSocketLater: 0 })
})

t.test('fact 9: a foreign Origin gets 403 with an empty body; uploads keep a name for the same bytes and rename for other bytes', async t => {
  const png = encodePng({ width: 2, height: 2, pixels: new Uint8Array(12).fill(200) })
  const other = encodePng({ width: 2, height: 2, pixels: new Uint8Array(12).fill(100) })
  const seen = await both(async url => {
    const foreign = await get(url, '/queue', { origin: 'http://evil.example' })
    const upload = async (data: Buffer, extra: Record<string, string> = {}) => {
      const form = new FormData()
      form.append('image', new Blob([new Uint8Array(data)]), 'agree.png')
      for (const [k, v] of Object.entries(extra)) form.append(k, v)
      return (await fetch(`${url}/upload/image`, { method: 'POST', body: form })).json()
    }
    const names = [await upload(png), await upload(png), await upload(other), await upload(other, { overwrite: 'true' }), await upload(png, { subfolder: 'sub' })]
    const listed = (await get(url, '/object_info/LoadImage')).json.LoadImage.input.required.image[0].filter((n: string) => n.startsWith('agree'))
    return { foreign: [foreign.status, foreign.text], names, listed }
  })
  t.same(seen.fake, seen.real)
  t.same(seen.real.foreign, [403, ''])
  t.same(seen.real.names.map((n: any) => n.name), ['agree.png', 'agree.png', 'agree (1).png', 'agree.png', 'agree.png'])
})
