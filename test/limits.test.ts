// Limits that hold whoever the caller is: MAX_QUEUE_DEPTH (503 QUEUE_FULL with Retry-After, over REST
// and gRPC, reported by /ready), a Submit rate per client over gRPC as over REST, uploads per client,
// and uploads deleted once unreferenced past UPLOAD_RETENTION_SECONDS.
import t from 'tap'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { v7 as uuidv7 } from 'uuid'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { png } from './helpers/media-files.ts'

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

async function ready (sys: TestSystem): Promise<{ status: number, retryAfter: string | null, body: any }> {
  const res = await fetch(`${sys.baseUrl}/ready`)
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
}

t.test('MAX_QUEUE_DEPTH: a full queue refuses submits with 503 and Retry-After, over REST and gRPC, and /ready says so', async t => {
  const sys = await TestSystem.start(t, { name: 'queuefull', workers: 0, gatewayEnv: { MAX_QUEUE_DEPTH: '3', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' } })
  const grpcClient = new JobsGrpc(sys.grpcAddress)
  t.teardown(() => grpcClient.client.close())
  const before = await ready(sys)
  t.equal(before.status, 200, '/ready: 200 while there is room')
  t.match(before.body, { ready: true, reasons: [], queue: { waiting: 0, max_depth: 3 } })

  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${sys.baseUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `fill-${i}` }, body: JSON.stringify({ prompt: `fills the queue ${i}` }) })
    t.equal(res.status, 200)
    ids.push((await res.json()).job_id)
  }
  const res = await fetch(`${sys.baseUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'one too many' }) })
  const body = await res.json()
  t.equal(res.status, 503, 'REST: 503')
  t.equal(body.code, 'QUEUE_FULL')
  t.ok(Number(res.headers.get('retry-after')) > 0, `with Retry-After: ${res.headers.get('retry-after')}`)

  const err = await grpcClient.fails('Submit', { prompt: 'one too many over gRPC' })
  t.equal(err.code, 8, 'gRPC: RESOURCE_EXHAUSTED (the README: retry after the retry-after trailer)')
  t.equal(err.metadata.get('app-error-code')[0], 'QUEUE_FULL')
  t.ok(Number(err.metadata.get('retry-after')[0]) > 0, 'with a retry-after trailer')

  const replay = await fetch(`${sys.baseUrl}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': 'fill-0' }, body: JSON.stringify({ prompt: 'fills the queue 0' }) })
  t.equal(replay.status, 200, 'a repeat of an accepted submit is still answered with its job')
  t.equal((await replay.json()).job_id, ids[0])

  const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt LIKE 'one too many%'") as any
  t.equal(Number(rows[0].n), 0, 'a refused submit leaves no row')
  t.equal((await sys.queueCounts()).waiting, 3, 'and no queue entry')

  const full = await ready(sys)
  t.equal(full.status, 503, '/ready: 503 while full')
  t.ok(Number(full.retryAfter) > 0, 'with Retry-After')
  t.match(full.body, { ready: false, queue: { waiting: 3, max_depth: 3 } })
  t.match(full.body.reasons[0], /queue is full: 3 jobs wait, MAX_QUEUE_DEPTH is 3/)

  t.equal((await fetch(`${sys.baseUrl}/api/cancel/${ids[0]}`, { method: 'POST' })).status, 200)
  await until('/ready says ready again', async () => (await ready(sys)).status === 200)
  let again = await sys.submit({ prompt: 'room again' })
  for (let i = 0; i < 50 && again.status === 503; i++) { await sleep(100); again = await sys.submit({ prompt: 'room again' }) }
  t.equal(again.status, 200, 'a submit is taken once there is room')
})

t.test('gRPC Submit is rate limited per client as REST is; uploads are limited and expire unless a live job uses them', async t => {
  const uploadDir = await mkdtemp(join(tmpdir(), 'cj-limits-uploads-'))
  t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
  const sys = await TestSystem.start(t, {
    name: 'limits',
    workers: 0,
    gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '5', UPLOAD_RATE_LIMIT_PER_MINUTE: '3', UPLOAD_DIR: uploadDir, UPLOAD_RETENTION_SECONDS: '2' }
  })
  const grpcClient = new JobsGrpc(sys.grpcAddress)
  t.teardown(() => grpcClient.client.close())

  t.test('Submit over gRPC', async t => {
    for (let i = 0; i < 5; i++) t.ok((await grpcClient.call('Submit', { prompt: `grpc ${i}` })).job_id, `submit ${i + 1} of 5 taken`)
    const err = await grpcClient.fails('Submit', { prompt: 'the sixth' })
    t.equal(err.code, 8, 'the sixth within the minute: RESOURCE_EXHAUSTED')
    t.equal(err.metadata.get('app-error-code')[0], 'RATE_LIMITED')
    t.ok(Number(err.metadata.get('retry-after')[0]) >= 1, `retry-after ${err.metadata.get('retry-after')[0]} s`)
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'the sixth'") as any
    t.equal(Number(rows[0].n), 0, 'nothing created')
  })

  const uploadOne = async (seed: number) => {
    const form = new FormData()
    form.append('file', new Blob([new Uint8Array(png(8, 8, seed))]), `f${seed}.png`)
    const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form })
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
  }

  t.test('uploads per client, and their retention', async t => {
    const kept = await uploadOne(1)
    const expiring = await uploadOne(2)
    t.equal(kept.status, 200)
    t.equal(expiring.status, 200)
    t.equal((await uploadOne(3)).status, 200)
    const fourth = await uploadOne(4)
    t.equal(fourth.status, 429, 'the fourth upload within the minute: 429')
    t.equal(fourth.body.code, 'TOO_MANY_UPLOADS')
    t.ok(Number(fourth.retryAfter) > 0, 'with Retry-After')

    // a live job references the first upload
    const id = uuidv7()
    const inputs = { image: { name: kept.body.name, kind: 'image', content_type: 'image/png', bytes: 100, width: 8, height: 8 } }
    await sys.db.pool.query(
      "INSERT INTO jobs (id, status, workflow, model, prompt, params, inputs, created_at, updated_at) VALUES (?, 'queued', 'single_image_edit', 'turbo_fp8', 'uses an upload', ?, ?, NOW(3), NOW(3))",
      [id, JSON.stringify({ aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }), JSON.stringify(inputs)])

    await until('the unreferenced uploads are deleted', async () => !(await readdir(uploadDir)).includes(expiring.body.name))
    t.pass('an unreferenced upload is deleted after the retention')
    const pass = await sys.gateway!.waitForLog(l => l.msg === 'expired uploads deleted' && l.kept_for_live_jobs >= 1, 30_000)
    t.ok(pass, 'the pass says it kept one for a live job')
    t.ok((await readdir(uploadDir)).includes(kept.body.name), 'the upload a live job uses is kept')

    await sys.db.pool.query("UPDATE jobs SET status = 'finished', finished_at = NOW(3) WHERE id = ?", [id])
    await until('the upload of the ended job is deleted', async () => !(await readdir(uploadDir)).includes(kept.body.name))
    t.pass('once the job ended, its upload expires too')
  })
})
