// Overload is shed with 503 and Retry-After, never reported as the queue error, and leaves nothing half-made.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'

t.test('a burst against a one-connection pool gets 200s and 503s with Retry-After', async t => {
  const sys = await TestSystem.start(t, { name: 'overload', workers: 0, gatewayEnv: { DB_POOL_SIZE: '1', TX_MAX_WAIT_MS: '100' } })
  const redis = new Redis(sys.redisUrl)
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })

  const answers: Array<{ status: number, body: any, retryAfter: string | null }> = []
  // a few bursts at most: the first one nearly always has both outcomes
  for (let burst = 0; burst < 5; burst++) {
    answers.push(...await Promise.all(Array.from({ length: 80 }, async (_x, i) => {
      const res = await fetch(`${sys.baseUrl}/api/generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `burst ${burst}.${i}` })
      })
      return { status: res.status, body: await res.json(), retryAfter: res.headers.get('retry-after') }
    })))
    if (answers.some(a => a.status === 200) && answers.some(a => a.status === 503)) break
  }
  const ok = answers.filter(a => a.status === 200)
  const shed = answers.filter(a => a.status === 503)
  t.comment(`${answers.length} submits: ${ok.length} × 200, ${shed.length} × 503`)
  t.ok(ok.length > 0, 'some submits got a connection and succeeded')
  t.ok(shed.length > 0, 'some were shed with 503')
  t.same([...new Set(answers.map(a => a.status))].sort(), [200, 503], 'nothing but 200 and 503: no 500')
  t.notOk(answers.some(a => a.body.code === 'QUEUE_UNAVAILABLE'), 'overload is never reported as the queue error')
  for (const a of shed) {
    t.equal(a.body.code, 'OVERLOADED')
    t.equal(a.body.error, '系統忙碌中，請稍後再試')
    t.match(a.retryAfter, /^[1-9][0-9]*$/, 'with Retry-After in seconds')
    t.notOk(a.body.job_id, 'and no job id')
  }

  const [rows] = await sys.db.pool.query('SELECT id, status FROM jobs') as any
  const okIds = new Set(ok.map(a => a.body.job_id))
  t.equal(rows.length, ok.length, 'exactly one row per 200: a shed submit leaves no row')
  t.ok(rows.every((r: { id: string }) => okIds.has(r.id)), 'every row belongs to a 200')
  let missingQueue = 0
  let missingStatus = 0
  for (const r of rows as Array<{ id: string }>) {
    if (!(await queue.getJob(r.id))) missingQueue++
    if (!(await redis.exists(`job:status:${r.id}`))) missingStatus++
  }
  t.equal(missingQueue, 0, 'no row without its queue entry')
  t.equal(missingStatus, 0, 'no row without its status key')
  const counts = await sys.queueCounts()
  t.equal(counts.waiting + counts.prioritized + counts.delayed, ok.length, 'and no queue entry without a row')

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
