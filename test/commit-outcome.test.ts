// The database link cut exactly at a submit's COMMIT, before and after the server got it, and the
// database gone while the gateway tries to find out: every answer tells the truth. 200 ⇒ the row
// exists and the job runs once; a 5xx other than OUTCOME_UNKNOWN ⇒ no row, no queue entry, no status
// key; OUTCOME_UNKNOWN ⇒ it names the job, and the status route (or a repeat with the same
// Idempotency-Key) tells the outcome once the database is back.
import t, { type Test } from 'tap'
import * as grpc from '@grpc/grpc-js'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { MysqlProxy } from './helpers/mysql-proxy.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'

// nine scenarios that each run jobs to the end: more than the default 120 s per file on a busy machine
t.setTimeout(600_000)

const proxy = new MysqlProxy(3306)
await proxy.start()
t.teardown(() => proxy.stop())
// a short transaction timeout, so a COMMIT that hangs is given up on quickly
const sys = await TestSystem.start(t, {
  name: 'commitcut',
  workers: 1,
  gateway: false,
  workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '5' }
})
await sys.startGateway({
  DATABASE_URL: sys.db.url.replace(':3306/', `:${proxy.port}/`),
  TX_TIMEOUT_MS: '2000',
  SUBMIT_OUTCOME_TIMEOUT_MS: '1500',
  SUBMIT_RATE_LIMIT_PER_MINUTE: '0',
  SWEEP_INTERVAL_MS: '500',
  SWEEP_GRACE_MS: '3000'
})
const redis = new Redis(sys.redisUrl)
const queue = new Queue(sys.queueName, { connection: redis })
t.teardown(async () => { await queue.close(); redis.disconnect() })

async function post (body: Record<string, unknown>, key?: string): Promise<{ status: number, body: any }> {
  const res = await fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body)
  })
  return { status: res.status, body: await res.json() }
}

async function until<T> (what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * What Redis holds of a job: a queue entry that may still run (a worker that took it before the
 * gateway knew the commit failed finds no row and is told to cancel it), and its status hash.
 */
async function traces (id: string): Promise<{ queued: boolean, statusKey: boolean }> {
  const state = await queue.getJobState(id)
  return { queued: !['unknown', 'completed', 'failed'].includes(state), statusKey: (await redis.exists(`job:status:${id}`)) === 1 }
}

/** The job ran to completion exactly once: one row, finished, attempts 1, one output. */
async function ranOnce (t: Test, id: string): Promise<void> {
  const row = await until('the job finished', async () => {
    const r = await sys.row(id)
    return r?.status === 'finished' ? r : null
  })
  t.equal(row.attempts, 1, 'it ran once')
  const [outputs] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM outputs WHERE job_id = ?', [id]) as any
  t.equal(Number(outputs[0].n), 1, 'with one output')
}

/** The job id of the first gateway log line with this step written after `mark` lines. */
function stepAfter (mark: number, step: string): Promise<string> {
  return sys.gateway!.waitForLog(l => l.step === step && sys.gateway!.logs.indexOf(l) >= mark).then(l => l.job_id)
}

t.test('the COMMIT never reaches the server: a clean 5xx, nothing left behind', async t => {
  proxy.failCommits({ at: 'before' })
  const mark = sys.gateway!.logs.length
  const res = await post({ prompt: 'commit lost before the server' })
  t.equal(proxy.hits.before, 1, 'the fault met the COMMIT')
  t.equal(res.status, 500)
  t.equal(res.body.code, 'JOB_CREATE_FAILED', 'a plain failure, not OUTCOME_UNKNOWN: the database said the row is not there')
  const id = await stepAfter(mark, 'compensated')
  t.equal(await sys.row(id), null, 'no row')
  await until('no queue entry, no status key', async () => {
    const left = await traces(id)
    return !left.queued && !left.statusKey
  })
  t.equal((await sys.status(id)).status, 404)
})

t.test('the server commits but its answer is lost: 200, and the job runs once', async t => {
  proxy.failCommits({ at: 'after' })
  const res = await post({ prompt: 'commit answer lost' })
  t.equal(proxy.hits.after, 1, 'the fault met the COMMIT')
  t.equal(res.status, 200, `the committed job is accepted (${JSON.stringify(res.body)})`)
  const id = res.body.job_id
  t.ok(await sys.gateway!.waitForLog(l => l.job_id === id && l.step === 'commit_confirmed'), 'after the gateway asked the database')
  t.notOk(sys.gateway!.logs.some(l => l.job_id === id && l.step === 'compensated'), 'and removed nothing')
  t.ok(await sys.row(id), 'the row exists')
  await ranOnce(t, id)
})

t.test('the COMMIT hangs on a silent link: the gateway ends the session itself and answers a clean 5xx', async t => {
  proxy.failCommits({ at: 'hold' })
  const mark = sys.gateway!.logs.length
  const started = Date.now()
  const res = await post({ prompt: 'commit held' })
  const ms = Date.now() - started
  t.equal(proxy.release('rollback'), 0, 'the held link was already gone: the gateway ended the session (KILL)')
  t.equal(res.status, 500, `a 5xx in bounded time (${ms} ms): ${res.body.code}`)
  t.equal(res.body.code, 'JOB_CREATE_FAILED')
  t.ok(ms < 15_000, 'bounded by the transaction timeout and the outcome timeout')
  const id = await stepAfter(mark, 'compensated')
  t.equal(await sys.row(id), null, 'no row')
  await until('no queue entry, no status key', async () => {
    const left = await traces(id)
    return !left.queued && !left.statusKey
  })
})

t.test('the server commits, then the database is unreachable: OUTCOME_UNKNOWN, and the status route tells the outcome later', async t => {
  proxy.failCommits({ at: 'after', outage: true })
  const res = await post({ prompt: 'committed, then outage' })
  t.equal(res.status, 503)
  t.equal(res.body.code, 'OUTCOME_UNKNOWN')
  t.match(res.body.job_id, /^[0-9a-f-]{36}$/, 'names the job')
  t.match(res.body.message, /GET \/api\/status/, 'and says how to learn the outcome')
  t.match(res.body.message, /Idempotency-Key/)
  const id = res.body.job_id
  const during = await sys.status(id)
  t.equal(during.status, 503, 'while the database is away the status route does not guess either')
  t.equal(during.body.code, 'OUTCOME_UNKNOWN')
  proxy.resume()
  const after = await until('the status route answers', async () => {
    const s = await sys.status(id)
    return s.status === 503 ? null : s
  })
  t.equal(after.status, 200, 'once the database answers, the job is found: it committed')
  await ranOnce(t, id)
})

t.test('the COMMIT is lost, then the database is unreachable: OUTCOME_UNKNOWN, then 404 and nothing left behind', async t => {
  proxy.failCommits({ at: 'before', outage: true })
  const res = await post({ prompt: 'lost, then outage' })
  t.equal(res.status, 503)
  t.equal(res.body.code, 'OUTCOME_UNKNOWN')
  const id = res.body.job_id
  proxy.resume()
  const after = await until('the status route answers', async () => {
    const s = await sys.status(id)
    return s.status === 503 ? null : s
  })
  t.equal(after.status, 404, 'the job was not created')
  await until('the queue entry and status key are gone', async () => {
    const left = await traces(id)
    return !left.queued && !left.statusKey
  })
  t.pass('no queue entry, no status key')
  t.equal(await sys.row(id), null, 'and no row')
})

t.test('a repeat with the same Idempotency-Key after OUTCOME_UNKNOWN returns the job, or creates it once', async t => {
  proxy.failCommits({ at: 'after', outage: true })
  const first = await post({ prompt: 'keyed, committed' }, 'outcome-key-committed')
  t.equal(first.body.code, 'OUTCOME_UNKNOWN')
  proxy.resume()
  const again = await until('a repeat succeeds', async () => {
    const r = await post({ prompt: 'keyed, committed' }, 'outcome-key-committed')
    return r.status === 200 ? r : null
  })
  t.equal(again.body.job_id, first.body.job_id, 'the committed job is returned')

  proxy.failCommits({ at: 'before', outage: true })
  const lost = await post({ prompt: 'keyed, lost' }, 'outcome-key-lost')
  t.equal(lost.body.code, 'OUTCOME_UNKNOWN')
  proxy.resume()
  const created = await until('a repeat succeeds', async () => {
    const r = await post({ prompt: 'keyed, lost' }, 'outcome-key-lost')
    return r.status === 200 ? r : null
  })
  const [rows] = await sys.db.pool.query('SELECT id FROM jobs WHERE idempotency_key = ?', ['outcome-key-lost']) as any
  t.equal(rows.length, 1, 'one row for the key')
  t.equal(rows[0].id, created.body.job_id, 'the job the repeat created')
  t.not(created.body.job_id, lost.body.job_id, 'not the one that never committed')
  await ranOnce(t, created.body.job_id)
  await ranOnce(t, first.body.job_id)
})

t.test('gRPC Submit: OUTCOME_UNKNOWN as UNAVAILABLE with the catalogue code and the job id', async t => {
  const jobs = new JobsGrpc(sys.grpcAddress)
  t.teardown(() => jobs.close())
  proxy.failCommits({ at: 'after', outage: true })
  const err = await jobs.fails('Submit', { prompt: 'grpc, committed, then outage' }, 30_000)
  t.equal(err.code, grpc.status.UNAVAILABLE)
  t.same(err.metadata.get('app-error-code'), ['OUTCOME_UNKNOWN'])
  const [id] = err.metadata.get('job-id') as string[]
  t.match(id, /^[0-9a-f-]{36}$/, 'the job id in the trailers')
  t.match(err.details, /may or may not have been created/)
  proxy.resume()
  const state = await until('GetStatus answers', async () => jobs.call('GetStatus', { job_id: id }).catch(() => null))
  t.equal(state.job_id, id, 'GetStatus finds it: it committed')
  await ranOnce(t, id)
})

t.test('the client gave up on a hung COMMIT but the server session lives on: the gateway ends it (KILL) and knows', async t => {
  proxy.failCommits({ at: 'hold', orphan: true })
  const mark = sys.gateway!.logs.length
  const res = await post({ prompt: 'commit held, session orphaned' })
  t.equal(res.status, 500, `a clean 5xx: ${res.body.code}`)
  t.equal(res.body.code, 'JOB_CREATE_FAILED', 'not OUTCOME_UNKNOWN: the gateway ended the session and then knew')
  t.equal(proxy.orphansAlive(), 0, 'the server session was ended (by KILL: the proxy never closed it)')
  const id = await stepAfter(mark, 'compensated')
  t.equal(await sys.row(id), null, 'no row')
  proxy.release('rollback')
})

t.test('24 clients on a flapping link while random COMMITs are cut: every answer tells the truth', async t => {
  const faults = ['before', 'after', 'hold'] as const
  proxy.failCommitsWith(() => Math.random() < 0.25 ? { at: faults[Math.floor(Math.random() * 3)], orphan: Math.random() < 0.5 } : null)
  const mark = sys.gateway!.logs.length
  let flapping = true
  const flapper = (async () => {
    while (flapping) {
      await sleep(400 + Math.random() * 800)
      proxy.cut(true)
      await sleep(100 + Math.random() * 400)
      proxy.resume()
    }
  })()
  const answers: Array<{ status: number, body: any }> = []
  await Promise.all(Array.from({ length: 24 }, async (_x, c) => {
    for (let i = 0; i < 6; i++) {
      answers.push(await post({ prompt: `storm ${c}.${i}` }))
      if (i % 3 === 2) proxy.release(Math.random() < 0.5 ? 'commit' : 'rollback')
    }
  }))
  flapping = false
  await flapper
  proxy.failCommitsWith(null)
  proxy.release('rollback')
  proxy.resume()
  const codes = new Map<string, number>()
  for (const a of answers) codes.set(a.status === 200 ? '200' : a.body.code, (codes.get(a.status === 200 ? '200' : a.body.code) ?? 0) + 1)
  t.comment(`${answers.length} submits: ${JSON.stringify(Object.fromEntries(codes))}; COMMIT faults ${JSON.stringify(proxy.hits)}`)

  const attempted = new Set(sys.gateway!.logs.slice(mark).filter(l => l.step === 'db_insert').map(l => l.job_id as string))
  const accepted = new Set(answers.filter(a => a.status === 200).map(a => a.body.job_id as string))
  const unknown = answers.filter(a => a.body.code === 'OUTCOME_UNKNOWN').map(a => a.body.job_id as string)
  // the status route settles each OUTCOME_UNKNOWN once the database answers
  const told = new Map<string, number>()
  for (const id of unknown) told.set(id, (await until(`the outcome of ${id}`, async () => { const s = await sys.status(id); return s.status === 503 ? null : s })).status)
  const [rows] = await sys.db.pool.query("SELECT id FROM jobs WHERE prompt LIKE 'storm %'") as any
  const rowIds = new Set<string>(rows.map((r: { id: string }) => r.id))
  t.same([...accepted].filter(id => !rowIds.has(id)), [], 'every 200 has its row')
  t.same([...rowIds].filter(id => !accepted.has(id) && !unknown.includes(id)), [], 'no row for a submit that was refused')
  t.same(unknown.filter(id => (told.get(id) === 200) !== rowIds.has(id)), [], 'every OUTCOME_UNKNOWN: the status route tells the truth (200 ⇔ a row)')
  await until('no trace of the jobs that were not created', async () => {
    for (const id of attempted) {
      if (rowIds.has(id)) continue
      const left = await traces(id)
      if (left.queued || left.statusKey) return false
    }
    return true
  }, 60_000)
  t.pass('no queue entry and no status key for a job that was not created')
  await until('every created job finished', async () => {
    const [live] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt LIKE 'storm %' AND status <> 'finished'") as any
    return Number(live[0].n) === 0
  }, 180_000)
  const [ran] = await sys.db.pool.query("SELECT attempts, COUNT(*) AS n FROM jobs WHERE prompt LIKE 'storm %' GROUP BY attempts") as any
  t.same(ran.map((r: any) => [r.attempts, Number(r.n)]), [[1, rowIds.size]], 'each ran once')
})
