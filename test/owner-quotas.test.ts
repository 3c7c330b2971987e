// Limits per owner, with AUTH=required and two owners: MAX_LIVE_JOBS_PER_OWNER (429 TOO_MANY_LIVE_JOBS
// over REST, RESOURCE_EXHAUSTED over gRPC; a cancelled or finished job frees its slot) and uploads per
// owner within the retention window (429 UPLOAD_QUOTA_EXCEEDED; the same file again costs nothing).
// The owner at a limit is refused with nothing left behind; the other owner is unaffected.
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import * as grpc from '@grpc/grpc-js'
import { Redis } from 'ioredis'
import { uploadQuotaKey } from '@comfy-jobs/contracts'
import { TestSystem } from './helpers/system.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { bootstrapAdminKey, createKey as createApiKey } from './helpers/api-keys.ts'
import { dataUrl, png } from './helpers/media-files.ts'

const MAX_LIVE = 3
const SMALL = [png(8, 8, 1), png(8, 8, 2), png(8, 8, 3)]
const BIG = png(64, 64, 4)
const MAX_FILES = 2
// two small files fit; a small one and the big one do not
const MAX_BYTES = 2 * Math.max(...SMALL.map(b => b.length)) + 16

async function until (what: string, pred: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

const uploadDir = await mkdtemp(join(tmpdir(), 'cj-owner-quotas-'))
t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
const sys = await TestSystem.start(t, {
  name: 'owner_quotas',
  workers: 1,
  gatewayEnv: {
    AUTH: 'required',
    MAX_LIVE_JOBS_PER_OWNER: String(MAX_LIVE),
    UPLOAD_MAX_FILES_PER_OWNER: String(MAX_FILES),
    UPLOAD_MAX_BYTES_PER_OWNER: String(MAX_BYTES),
    UPLOAD_DIR: uploadDir,
    SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
    UPLOAD_RATE_LIMIT_PER_MINUTE: '0'
  }
})
const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: 1 })
t.teardown(async () => {
  await redis.del(...['alice', 'bob', 'carol', 'dave'].map(o => uploadQuotaKey(sys.queueName, o)))
  redis.disconnect()
})

const ADMIN = await bootstrapAdminKey(sys)
const createKey = (owner: string): Promise<string> => createApiKey(sys, ADMIN, owner, ['submit', 'read', 'cancel'])

async function submit (key: string, body: Record<string, unknown>, idempotencyKey?: string): Promise<{ status: number, retryAfter: string | null, body: any }> {
  const res = await fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    body: JSON.stringify(body)
  })
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
}

async function rowsWithPrompt (prompt: string): Promise<number> {
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs WHERE prompt = ?', [prompt]) as any
  return Number(rows[0].n)
}

async function statusOf (key: string, id: string): Promise<string> {
  const res = await fetch(`${sys.baseUrl}/api/status/${id}`, { headers: { authorization: `Bearer ${key}` } })
  return (await res.json() as any).status
}

function grpcSubmit (client: JobsGrpc, key: string, prompt: string): Promise<{ err: grpc.ServiceError | null, jobId?: string }> {
  const md = new grpc.Metadata()
  md.set('authorization', `Bearer ${key}`)
  return new Promise(resolve => {
    (client.client as any).Submit({ prompt }, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res?: { job_id: string }) => resolve({ err, jobId: res?.job_id }))
  })
}

t.test('MAX_LIVE_JOBS_PER_OWNER: the owner at the limit is refused over REST and gRPC, nothing is stored, the other owner is not; an ended job frees a slot', async t => {
  const [alice, bob] = [await createKey('alice'), await createKey('bob')]
  const client = new JobsGrpc(sys.grpcAddress)
  t.teardown(() => client.client.close())
  // no worker: alice's jobs stay queued
  await sys.workers[0].kill('SIGKILL')

  const ids: string[] = []
  for (let i = 0; i < MAX_LIVE; i++) {
    const res = await submit(alice, { prompt: `alice ${i}` }, `alice-${i}`)
    t.equal(res.status, 200, `alice's job ${i + 1} of ${MAX_LIVE} is taken`)
    ids.push(res.body.job_id)
  }
  const before = await sys.queueCounts()
  const refused = await submit(alice, { prompt: 'alice one too many' })
  t.equal(refused.status, 429, 'REST: the next one is 429')
  t.equal(refused.body.code, 'TOO_MANY_LIVE_JOBS')
  t.match(refused.body.details, /3 queued or processing jobs; MAX_LIVE_JOBS_PER_OWNER is 3/)
  t.ok(Number(refused.retryAfter) > 0, `with Retry-After: ${refused.retryAfter}`)

  const overGrpc = await grpcSubmit(client, alice, 'alice one too many over gRPC')
  t.equal(overGrpc.err?.code, grpc.status.RESOURCE_EXHAUSTED, 'gRPC: RESOURCE_EXHAUSTED')
  t.equal(overGrpc.err?.metadata.get('app-error-code')[0], 'TOO_MANY_LIVE_JOBS')
  t.ok(Number(overGrpc.err?.metadata.get('retry-after')[0]) > 0, 'with a retry-after trailer')

  t.equal(await rowsWithPrompt('alice one too many'), 0, 'no row for the refused REST submit')
  t.equal(await rowsWithPrompt('alice one too many over gRPC'), 0, 'nor for the refused gRPC one')
  t.same(await sys.queueCounts(), before, 'and no queue entry')

  const replay = await submit(alice, { prompt: 'alice 0' }, 'alice-0')
  t.equal(replay.status, 200, 'a repeat of an accepted submit is still answered with its job')
  t.equal(replay.body.job_id, ids[0])

  const bobRest = await submit(bob, { prompt: 'bob over REST' })
  t.equal(bobRest.status, 200, 'bob is not limited by alice over REST')
  const bobGrpc = await grpcSubmit(client, bob, 'bob over gRPC')
  t.equal(bobGrpc.err, null, 'nor over gRPC')

  // a cancelled job frees a slot (at the next count, at most half a second later)
  const cancel = await fetch(`${sys.baseUrl}/api/cancel/${ids[0]}`, { method: 'POST', headers: { authorization: `Bearer ${alice}` } })
  t.equal(cancel.status, 200, 'alice cancels one of hers')
  let again = await submit(alice, { prompt: 'alice after a cancel' })
  for (let i = 0; i < 100 && again.status === 429; i++) { await sleep(100); again = await submit(alice, { prompt: 'alice after a cancel' }) }
  t.equal(again.status, 200, 'a submit is taken once a slot is free')
  ids.push(again.body.job_id)
  t.equal((await grpcSubmit(client, alice, 'alice full again')).err?.metadata.get('app-error-code')[0], 'TOO_MANY_LIVE_JOBS', 'and the limit holds again over gRPC')

  // a finished job frees its slot
  await sys.startWorker(0)
  await until("alice's jobs finish", async () => {
    for (const id of ids.slice(1)) if (await statusOf(alice, id) !== 'finished') return false
    return true
  }, 120_000)
  let after = await submit(alice, { prompt: 'alice after her jobs finished' })
  for (let i = 0; i < 100 && after.status === 429; i++) { await sleep(100); after = await submit(alice, { prompt: 'alice after her jobs finished' }) }
  t.equal(after.status, 200, 'once her jobs finished, alice submits again')
  const viaGrpc = await grpcSubmit(client, alice, 'alice after, over gRPC')
  t.equal(viaGrpc.err, null, 'over gRPC too')
})

const nameOf = (bytes: Buffer): string => `${createHash('sha256').update(bytes).digest('hex')}.png`

async function upload (key: string, bytes: Buffer): Promise<{ status: number, retryAfter: string | null, body: any }> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), 'f.png')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form, headers: { authorization: `Bearer ${key}` } })
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() }
}

t.test('uploads per owner: files and bytes within the retention window; the same file again is free; the other owner is not limited', async t => {
  const [carol, dave] = [await createKey('carol'), await createKey('dave')]
  t.equal((await upload(carol, SMALL[0])).status, 200, 'carol: a first file')
  t.equal((await upload(carol, SMALL[0])).status, 200, 'the same file again costs nothing new')

  const big = await upload(carol, BIG)
  t.equal(big.status, 429, 'a file that would pass UPLOAD_MAX_BYTES_PER_OWNER: 429')
  t.equal(big.body.code, 'UPLOAD_QUOTA_EXCEEDED')
  t.match(big.body.details, /UPLOAD_MAX_BYTES_PER_OWNER/)
  t.ok(Number(big.retryAfter) > 0, `with Retry-After: ${big.retryAfter}`)
  t.notOk((await readdir(uploadDir)).includes(nameOf(BIG)), 'the refused file is not stored')

  t.equal((await upload(carol, SMALL[1])).status, 200, 'a second small file fits')
  const third = await upload(carol, SMALL[2])
  t.equal(third.status, 429, 'a third file passes UPLOAD_MAX_FILES_PER_OWNER: 429')
  t.equal(third.body.code, 'UPLOAD_QUOTA_EXCEEDED')
  t.notOk((await readdir(uploadDir)).includes(nameOf(SMALL[2])), 'not stored')
  t.equal((await upload(carol, SMALL[1])).status, 200, 'at the limit, a file carol has already uploaded is still taken')

  const inline = await submit(carol, { workflow: 'upscale', inputs: { input: dataUrl(SMALL[2]) } })
  t.equal(inline.status, 429, 'a file sent inline (data: URL) counts as an upload too')
  t.equal(inline.body.code, 'UPLOAD_QUOTA_EXCEEDED')
  const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE owner = 'carol'") as any
  t.equal(Number(rows[0].n), 0, 'no job row for it')
  t.notOk((await readdir(uploadDir)).includes(nameOf(SMALL[2])), 'nor a stored file')

  t.equal((await upload(dave, SMALL[2])).status, 200, 'dave is not limited by carol')
  t.equal((await upload(dave, BIG)).status, 429, 'dave has his own quota')
  t.equal((await upload(dave, SMALL[0])).status, 200, 'a file carol stored counts for dave once he uploads it')
  const quota = await redis.hgetall(uploadQuotaKey(sys.queueName, 'dave'))
  t.same(Object.keys(quota).sort(), [nameOf(SMALL[0]), nameOf(SMALL[2])].sort(), "dave's quota names his two files")
  t.ok(await redis.pttl(uploadQuotaKey(sys.queueName, 'dave')) > 0, 'and expires with the retention window')
})
