// The per-owner limits when what they count on goes away: submits while the database is cut are
// answered with a bounded 5xx and leave no slot taken (the owner still gets exactly
// MAX_LIVE_JOBS_PER_OWNER jobs afterwards); an upload while Redis is down is still taken, and a
// submit then fails clean and takes no slot either.
import t from 'tap'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cuttableSystem } from './helpers/cuttable-system.ts'
import { runCli } from './helpers/cli-process.ts'
import { png } from './helpers/media-files.ts'

const MAX_LIVE = 3
const uploadDir = await mkdtemp(join(tmpdir(), 'cj-owner-quotas-outage-'))
t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
const { sys, dbProxy, redis } = await cuttableSystem(t, 'quota_outage', {
  AUTH: 'required',
  // the key stays trusted through the outage: what is tested is the limits, not the key lookup
  AUTH_KEY_CACHE_MS: '600000',
  MAX_LIVE_JOBS_PER_OWNER: String(MAX_LIVE),
  UPLOAD_MAX_FILES_PER_OWNER: '5',
  UPLOAD_DIR: uploadDir,
  SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
  UPLOAD_RATE_LIMIT_PER_MINUTE: '0',
  DB_POOL_SIZE: '2',
  TX_MAX_WAIT_MS: '300'
})

const made = await runCli(['keys', 'create', '--owner', 'erin', '--scopes', 'submit,read', '--name', 'erin', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
if (made.code !== 0) throw new Error(`keys create failed: ${made.stderr}`)
const KEY: string = JSON.parse(made.stdout).secret
const auth = { authorization: `Bearer ${KEY}` }

async function submit (prompt: string): Promise<{ status: number, body: any, ms: number }> {
  const started = performance.now()
  const res = await fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ prompt }), signal: AbortSignal.timeout(60_000)
  })
  return { status: res.status, body: await res.json(), ms: performance.now() - started }
}

async function upload (bytes: Buffer): Promise<{ status: number, body: any }> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(bytes)]), 'f.png')
  const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body: form, headers: auth, signal: AbortSignal.timeout(60_000) })
  return { status: res.status, body: await res.json() }
}

async function liveRows (): Promise<number> {
  const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE owner = 'erin' AND status IN ('queued', 'processing')") as any
  return Number(rows[0].n)
}

t.test('database cut: submits fail bounded and take no slot', async t => {
  t.equal((await upload(png(8, 8, 1))).status, 200, 'the key is known (and cached) before the outage')
  dbProxy.cut(true)
  for (let i = 0; i < 3; i++) {
    const res = await submit(`during the database outage ${i}`)
    t.ok(res.status >= 500, `submit ${i + 1} during the outage: ${res.status} ${res.body.code}`)
    t.match(res.body.code, /^(DATABASE_UNAVAILABLE|OVERLOADED|JOB_CREATE_FAILED)$/, 'a catalogue code, not driver text')
  }
  dbProxy.resume()
  let first = await submit('after the outage 0')
  for (let i = 0; i < 200 && first.status >= 500; i++) { await sleep(100); first = await submit('after the outage 0') }
  t.equal(first.status, 200, 'the database is back: a submit is taken')
  t.equal((await submit('after the outage 1')).status, 200, 'and a second')
  t.equal(await liveRows(), 2, 'two live jobs')
})

t.test('Redis down: an upload is still taken, a submit fails clean; back up, the limit still counts right', async t => {
  await redis.stop()
  const during = await upload(png(8, 8, 2))
  t.equal(during.status, 200, 'an upload needs nothing else from Redis: taken without its quota (logged)')
  t.ok((await readdir(uploadDir)).includes(during.body.name), 'and stored')
  const submitted = await submit('while Redis is down')
  t.equal(submitted.status, 500, 'a submit cannot be queued: 500')
  t.equal(submitted.body.code, 'QUEUE_UNAVAILABLE')
  await redis.start()
  let after = await submit('after Redis is back')
  for (let i = 0; i < 200 && after.status >= 500; i++) { await sleep(100); after = await submit('after Redis is back') }
  t.equal(after.status, 200, 'Redis is back: the third is taken (no failed submit of either outage took a slot)')
  const past = await submit('past the limit')
  t.equal(past.status, 429, `the fourth is past MAX_LIVE_JOBS_PER_OWNER=${MAX_LIVE}`)
  t.equal(past.body.code, 'TOO_MANY_LIVE_JOBS')
  t.equal(await liveRows(), MAX_LIVE, 'exactly the limit of live jobs exist')
})
