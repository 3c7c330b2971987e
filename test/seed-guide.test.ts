// The verification guide (../shared/reference/seed-guide.md), case by case.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { measureTransactionOverhead } from './helpers/submit-overhead.ts'

const RED_CAT = { prompt: 'a red cat', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '1:1', seed: 12345 }

t.test('with the whole system running', async t => {
  const sys = await TestSystem.start(t, { name: 'seed', workers: 1 })
  await sys.waitForWorkersConnected()
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())

  t.test('Test 1: normal flow', async t => {
    const health = await fetch(`${sys.baseUrl}/api/health`).then(r => r.json())
    t.equal(health.status, 'ok', 'precondition: /api/health is healthy')

    const res = await sys.submit(RED_CAT)
    t.equal(res.status, 200, 'submit answers 200, not 202')
    t.equal(res.body.message, '任務已成功提交')
    t.equal(res.body.status, 'queued')
    t.match(res.body.job_id, /^[0-9a-f-]{36}$/)

    await sleep(100)
    const status = await sys.status(res.body.job_id)
    t.not(status.status, 404, 'the first poll is never a 404')
    t.equal(status.body.source, 'redis')
    t.equal(status.body.job_id, res.body.job_id)

    const steps = sys.gateway!.logs.filter(l => l.job_id === res.body.job_id && l.step).map(l => l.step)
    t.same(steps.slice(0, 4), ['db_insert', 'queue_push', 'status_init', 'commit'],
      'log: written (uncommitted) → pushed → status initialised → committed')
    const messages = sys.gateway!.logs.filter(l => l.job_id === res.body.job_id && l.step).map(l => l.msg)
    t.same(messages.slice(0, 4), ['job written to database (uncommitted)', 'job pushed to Redis queue', 'Redis status initialised', 'transaction committed'])
  })

  t.test('Test 3: two-layer status query', async t => {
    const res = await sys.submit({ prompt: 'test redis query', workflow: 'text_to_image' })
    t.equal(res.status, 200)
    const id = res.body.job_id

    const first = await sys.status(id)
    t.equal(first.status, 200, '3.1 found')
    t.equal(first.body.source, 'redis', '3.1 source is redis')
    t.ok(['queued', 'processing', 'finished'].includes(first.body.status), `3.1 status shown normally (${first.body.status})`)

    await sys.waitForStatus(id, s => s.status === 'finished')
    t.equal(await redis.del(`job:status:${id}`), 1, '3.2 the Redis key existed and is deleted by hand')
    const fromDb = await sys.status(id)
    t.equal(fromDb.status, 200, '3.2 still found')
    t.equal(fromDb.body.source, 'database', '3.2 restored from the database')
    const row = await sys.row(id)
    t.equal(fromDb.body.status, row.status, '3.2 status is the database row\'s')
    t.equal(fromDb.body.status, 'finished')
    t.equal(fromDb.body.progress, 100)
    t.equal(fromDb.body.image_url, `/outputs/${id}.png`)
    t.ok(fromDb.body.created_at, '3.2 the database answer carries created_at')

    const missing = await sys.status('fake-job-id')
    t.equal(missing.status, 404, '3.3 unknown id is a 404')
    t.match(missing.body.message, /任務不存在/)
    t.equal(missing.body.error, 'Job not found')
    t.equal(missing.body.job_id, 'fake-job-id')
    const unknownUuid = await sys.status('01900000-0000-7000-8000-000000000000')
    t.equal(unknownUuid.status, 404, '3.3 a well-formed id nobody submitted is a 404 too')
  })

  t.test('Test 4: latency', async t => {
    const times: number[] = []
    for (let i = 0; i < 10; i++) {
      const res = await sys.submit({ ...RED_CAT, prompt: `latency ${i}` })
      t.equal(res.status, 200)
      times.push(res.ms)
    }
    const avg = times.reduce((a, b) => a + b, 0) / times.length
    const overhead = await measureTransactionOverhead({ databaseUrl: sys.db.url, redisUrl: sys.redisUrl, queueName: `${sys.queueName}-overhead`, rounds: 10 })
    t.comment(`Test 4: 10 submits over HTTP: average ${avg.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})`)
    t.comment(`Test 4: submit with the transaction ${overhead.transactional.toFixed(2)} ms, without ${overhead.plain.toFixed(2)} ms (averages of 10 interleaved rounds): added ${overhead.added.toFixed(2)} ms`)
    t.ok(overhead.added < 100, `the transaction adds less than 100 ms on average (${overhead.added.toFixed(2)} ms)`)
  })
})

t.test('Test 2: rollback when Redis fails', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, { name: 'rollback', workers: 0, redisUrl: redis.url })

  await redis.stop()
  const res = await sys.submit({ prompt: 'test rollback', workflow: 'text_to_image' })
  t.equal(res.status, 500, 'submit answers 500, not 200')
  t.match(res.body.error, /任務佇列異常/)
  t.equal(res.body.error, '任務佇列異常，請稍後再試')
  t.equal(res.body.code, 'QUEUE_UNAVAILABLE')
  t.ok(res.ms < 15_000, `the failure does not wait for Redis, which is still down (${res.ms.toFixed(0)} ms)`)

  const [rows] = await sys.db.pool.query("SELECT * FROM jobs WHERE prompt = 'test rollback'") as any
  t.equal(rows.length, 0, 'no row for that job')

  // the answer can overtake the log line on its way through the gateway's stdout pipe
  const line = await sys.gateway!.waitForLog(l => l.msg === 'Redis push failed, database rolled back', 120_000).catch(() => undefined)
  t.ok(line, 'the log has the rollback line')
  t.equal(line?.level, 50, 'at error level')
  t.ok(line?.job_id, 'with the job id')
  t.match(String(line?.cause), /ECONNREFUSED|Connection|connect|is (connecting|reconnecting|end)/i, `with the cause (${line?.cause})`)

  await redis.start()
  const deadline = Date.now() + 10_000
  let again = await sys.submit({ prompt: 'after redis is back', workflow: 'text_to_image' })
  while (again.status !== 200 && Date.now() < deadline) {
    await sleep(100)
    again = await sys.submit({ prompt: 'after redis is back', workflow: 'text_to_image' })
  }
  t.equal(again.status, 200, 'once Redis is back the next submit succeeds without restarting the gateway')
  t.equal((await sys.status(again.body.job_id)).body.source, 'redis')
  const [after] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'after redis is back'") as any
  t.equal(Number(after[0].n), 1, 'exactly one row for the successful submit')
})
