// Raw graphs (workflow_graph) are a gateway's choice and a ComfyUI worker's job: refused while
// ALLOW_RAW_GRAPHS is off, and by a system whose workers run the built-in engine only; taken once a
// ComfyUI worker has reported its nodes. A refusal leaves no row and no queue entry.
import t, { type Test } from 'tap'
import { TestSystem } from './helpers/system.ts'
import { FakeComfyUI } from './fakes/comfyui/fake-comfyui.ts'
import { loadConfig } from '../services/gateway/src/config.ts'

const graph = {
  1: { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0xff0000 } },
  9: { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'raw/red' } }
}
const isEnd = (s: any) => ['finished', 'failed', 'cancelled'].includes(s.status)

async function nothingLeft (t: Test, sys: TestSystem): Promise<void> {
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  t.equal(Number(rows[0].n), 0, 'no row')
  const counts = await sys.queueCounts()
  t.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'no queue entry')
}

t.test('ALLOW_RAW_GRAPHS and RAW_GRAPH_MAX_BYTES are validated at start, naming the variable', async t => {
  t.same([loadConfig({}).allowRawGraphs, loadConfig({}).rawGraphMaxBytes], [false, 262144], 'off by default; 256 KiB')
  t.equal(loadConfig({ ALLOW_RAW_GRAPHS: 'true' }).allowRawGraphs, true)
  t.throws(() => loadConfig({ ALLOW_RAW_GRAPHS: 'sometimes' }), /ALLOW_RAW_GRAPHS="sometimes": expected true or false/)
  t.throws(() => loadConfig({ RAW_GRAPH_MAX_BYTES: '10' }), /RAW_GRAPH_MAX_BYTES="10": expected an integer in 1024\.\.16777216/)
})

t.test('off unless ALLOW_RAW_GRAPHS=true: a clear 400 naming the field', async t => {
  const sys = await TestSystem.start(t, { name: 'raw_off' })
  await sys.waitForWorkersConnected()
  const res = await sys.submit({ prompt: 'mine', workflow_graph: graph })
  t.equal(res.status, 400)
  t.match(res.body.details, [{ field: 'workflow_graph', message: /raw graphs are off on this gateway \(ALLOW_RAW_GRAPHS\)/ }])
  await nothingLeft(t, sys)
})

t.test('a system whose workers run the built-in engine only refuses a raw graph: no ComfyUI to run it', async t => {
  const sys = await TestSystem.start(t, { name: 'raw_builtin', gatewayEnv: { ALLOW_RAW_GRAPHS: 'true' } })
  await sys.waitForWorkersConnected()
  const res = await sys.submit({ prompt: 'mine', workflow_graph: graph })
  t.equal(res.status, 400)
  t.match(res.body.details, [{ field: 'workflow_graph', message: /no worker runs ComfyUI \(ENGINE=comfyui\)/ }])
  const array = await sys.submit({ prompt: 'mine', workflow_graph: [graph] })
  t.equal(array.status, 400, 'a graph must be an object')
  t.match(array.body.details, [{ field: 'workflow_graph' }])
  await nothingLeft(t, sys)
})

t.test('with a ComfyUI worker: taken once the worker reported its nodes, and run', async t => {
  const fake = new FakeComfyUI({ nodeMs: 1 })
  await fake.start()
  t.teardown(() => fake.stop())
  const sys = await TestSystem.start(t, { name: 'raw_comfy', gatewayEnv: { ALLOW_RAW_GRAPHS: 'true' }, workerEnv: { ENGINE: 'comfyui', COMFYUI_URL: fake.url, COMFYUI_POLL_MS: '200' } })
  await sys.waitForWorkersConnected()
  await sys.gateway!.waitForLog(l => l.msg === 'worker node catalogue fetched')
  const res = await sys.submit({ prompt: 'mine', workflow_graph: graph })
  t.equal(res.status, 200, JSON.stringify(res.body))
  const done = await sys.waitForStatus(res.body.job_id, isEnd)
  t.equal(done.status, 'finished', done.error ?? '')
  const sent = fake.seen('POST', '/prompt').find(r => r.body.prompt_id === res.body.job_id)!.body.prompt
  t.same(sent, graph, 'ComfyUI got the graph exactly as submitted')
})
