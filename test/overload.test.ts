// Overload is shed with 503 OVERLOADED and Retry-After, never reported as the queue error nor as the
// database being away (it answers), and leaves nothing half-made. The overload is made, not hoped
// for: the test holds the jobs table, so the one pool connection is busy for as long as it needs.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'

t.test('a burst while the one pool connection is busy: one 200, the rest 503 OVERLOADED with Retry-After', async t => {
  // TX_TIMEOUT_MS is generous: the submit that holds the connection waits on the table for as long as the test holds it
  const sys = await TestSystem.start(t, { name: 'overload', workers: 0, gatewayEnv: { DB_POOL_SIZE: '1', TX_MAX_WAIT_MS: '300', TX_TIMEOUT_MS: '120000', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' } })
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })
  t.equal((await sys.submit({ prompt: 'before the burst' })).status, 200, 'the pool has its connection')

  const holder = await sys.db.pool.getConnection()
  await holder.query('LOCK TABLES jobs WRITE')
  const BURST = 40
  const answers: Array<{ status: number, body: any, retryAfter: string | null }> = []
  const burst = Promise.all(Array.from({ length: BURST }, async (_x, i) => {
    const res = await fetch(`${sys.baseUrl}/api/generate`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `burst ${i}` })
    })
    answers.push({ status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') })
  }))
  // every submit but the one that holds the connection (its INSERT waits on the table) is answered
  for (let i = 0; answers.length < BURST - 1; i++) {
    if (i > 1200) throw new Error(`only ${answers.length} answers while the table was held`)
    await sleep(100)
  }
  await holder.query('UNLOCK TABLES')
  holder.release()
  await burst

  const ok = answers.filter(a => a.status === 200)
  const shed = answers.filter(a => a.status === 503)
  t.comment(`${answers.length} submits: ${ok.length} × 200, ${shed.length} × 503`)
  t.equal(ok.length, 1, 'the submit that held the connection succeeded once the table was free')
  t.equal(shed.length, BURST - 1, 'every other one was shed with 503')
  t.notOk(answers.some(a => a.body.code === 'QUEUE_UNAVAILABLE'), 'overload is never reported as the queue error')
  t.notOk(answers.some(a => a.body.code === 'DATABASE_UNAVAILABLE'), 'nor as the database being away: it answers, it is busy')
  for (const a of shed) {
    t.equal(a.body.code, 'OVERLOADED')
    t.equal(a.body.error, '系統忙碌中，請稍後再試')
    t.match(a.retryAfter, /^[1-9][0-9]*$/, 'with Retry-After in seconds')
    t.notOk(a.body.job_id, 'and no job id')
  }

  const [rows] = await sys.db.pool.query("SELECT id, status FROM jobs WHERE prompt LIKE 'burst %'") as any
  t.same(rows.map((r: { id: string }) => r.id), ok.map(a => a.body.job_id), 'exactly one row per 200: a shed submit leaves no row')
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.prioritized + counts.delayed, 2, 'a queue entry for the 200 (and the earlier job), none for a shed submit')
  t.ok(await queue.getJob(ok[0].body.job_id), 'the 200 has its queue entry')
  t.equal(await redis.exists(`job:status:${ok[0].body.job_id}`), 1, 'and its status key')

  const line = sys.gateway!.logs.find(l => l.step === 'overloaded')
  t.ok(line?.job_id, 'the shed submit is logged with its job id')

  let after = await sys.submit({ prompt: 'after the burst' })
  for (let i = 0; i < 50 && after.status !== 200; i++) {
    await sleep(100)
    after = await sys.submit({ prompt: 'after the burst' })
  }
  t.equal(after.status, 200, 'once the burst is over a submit succeeds again')
  t.equal((await sys.status(after.body.job_id)).body.status, 'queued')
})
