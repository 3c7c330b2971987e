// A job submitted through the gateway runs on the worker and ends finished, with its image served.
import t from 'tap'
import { createHash } from 'node:crypto'
import { inflateSync } from 'node:zlib'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { pngSize } from './helpers/png.ts'

t.test('end to end on the built-in engine', async t => {
  const sys = await TestSystem.start(t, { name: 'e2e', workers: 1 })
  await sys.waitForWorkersConnected()
  const redis = new Redis(sys.redisUrl)
  t.teardown(() => redis.disconnect())

  t.test('a 16:9 job finishes with progress 100 and a PNG of the requested size', async t => {
    const res = await sys.submit({ prompt: 'a lighthouse at dusk', aspect_ratio: '16:9', seed: 7 })
    t.equal(res.status, 200)
    const id = res.body.job_id
    const seen = new Set<string>()
    const done = await sys.waitForStatus(id, s => { seen.add(s.status); return s.status === 'finished' || s.status === 'failed' })
    t.equal(done.status, 'finished')
    t.equal(done.progress, 100)
    t.equal(done.source, 'redis')
    t.equal(done.image_url, `/outputs/${id}.png`)
    t.equal(done.total_steps, 4, 'total_steps as the worker ran them (BUILTIN_STEPS)')
    t.ok(seen.has('processing') || seen.has('queued'), `status moved through ${[...seen].join(' → ')}`)

    const img = await fetch(`${sys.baseUrl}${done.image_url}`)
    t.equal(img.status, 200)
    t.equal(img.headers.get('content-type'), 'image/png')
    const bytes = Buffer.from(await img.arrayBuffer())
    t.same(pngSize(bytes), { width: 1216, height: 832 }, '16:9 is 1216×832')
    t.same(done.outputs, [{ index: 0, url: done.image_url, kind: 'image', mime: 'image/png', width: 1216, height: 832, bytes: bytes.length }])

    const [outRows] = await sys.db.pool.query('SELECT * FROM outputs WHERE job_id = ?', [id]) as any
    t.equal(outRows.length, 1, 'the output is recorded in the database')
    t.equal(outRows[0].sha256, createHash('sha256').update(bytes).digest('hex'), 'with the checksum of the served bytes')

    const history = await redis.xrange(`job:events:${id}`, '-', '+')
    const types = history.map(([, kv]) => kv[kv.indexOf('type') + 1])
    t.same(types, ['processing', 'progress', 'progress', 'progress', 'progress', 'finished'], 'the job\'s event history, in order')
    const epoch = history[0][0].split('-')[1]
    t.same(history.map(([entryId]) => entryId), types.map((_x, i) => `${i + 1}-${epoch}`), 'numbered 1..n without gaps, in one history (entry ids <seq>-<epoch>)')

    await redis.del(`job:status:${id}`)
    const fromDb = await sys.status(id)
    t.equal(fromDb.body.source, 'database')
    t.equal(fromDb.body.status, 'finished', 'the database row says finished after the Redis key is gone')
    t.equal(fromDb.body.progress, 100)
    t.equal(fromDb.body.image_url, `/outputs/${id}.png`)
    t.ok(fromDb.body.started_at && fromDb.body.finished_at, 'with started_at and finished_at')
    const row = await sys.row(id)
    t.equal(row.attempts, 1)
    t.equal((typeof row.params === 'string' ? JSON.parse(row.params) : row.params).seed, 7, 'the seed is stored as given')
  })

  t.test('the image says it is a test pattern and is deterministic', async t => {
    const a = await sys.submit({ prompt: 'same', seed: 99 })
    const b = await sys.submit({ prompt: 'same', seed: 99 })
    const c = await sys.submit({ prompt: 'same', seed: 100 })
    const bytes: Buffer[] = []
    for (const r of [a, b, c]) {
      const done = await sys.waitForStatus(r.body.job_id, s => s.status === 'finished')
      bytes.push(Buffer.from(await (await fetch(`${sys.baseUrl}${done.image_url}`)).arrayBuffer()))
    }
    t.ok(bytes[0].equals(bytes[1]), 'same prompt and seed → the same image')
    t.notOk(bytes[0].equals(bytes[2]), 'another seed → another image')
    t.match(bytes[0].toString('latin1'), /test pattern/, 'the PNG metadata says it is a test pattern')
    // a real image, not a flat fill: more than a handful of distinct bytes once decompressed
    const idat = bytes[0].indexOf('IDAT')
    const len = bytes[0].readUInt32BE(idat - 4)
    const raw = inflateSync(bytes[0].subarray(idat + 4, idat + 4 + len))
    t.ok(new Set(raw.subarray(0, 50_000)).size > 16, 'the pixels vary')
  })

  t.test('a batch of 3 gives three images at _0.._2', async t => {
    const res = await sys.submit({ prompt: 'three cats', batch_size: 3, aspect_ratio: '2:3', seed: 1 })
    const done = await sys.waitForStatus(res.body.job_id, s => s.status === 'finished')
    const id = res.body.job_id
    t.same(done.outputs.map((o: any) => o.url), [0, 1, 2].map(i => `/outputs/${id}_${i}.png`))
    t.equal(done.image_url, `/outputs/${id}_0.png`)
    for (const o of done.outputs) {
      const r = await fetch(`${sys.baseUrl}${o.url}`)
      t.equal(r.status, 200)
      t.same(pngSize(Buffer.from(await r.arrayBuffer())), { width: 832, height: 1248 })
    }
  })

  t.test('outputs refuse path traversal and answer 404 for missing files', async t => {
    for (const path of ['/outputs/..%2f..%2fetc%2fpasswd', '/outputs/%2e%2e%2fpackage.json', '/outputs/..%5cwin.ini']) {
      const r = await fetch(`${sys.baseUrl}${path}`)
      t.equal(r.status, 403, `${path} → 403`)
    }
    const r = await fetch(`${sys.baseUrl}/outputs/01900000-0000-7000-8000-000000000000.png`)
    t.equal(r.status, 404)
    t.equal((await r.json()).code, 'NOT_FOUND')
  })

  t.test('a second gateway stands by for the worker and answers for every job', async t => {
    const { ServiceProcess } = await import('./helpers/service-process.ts')
    const { freePort } = await import('./helpers/ports.ts')
    const port = await freePort()
    const second = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(port), GATEWAY_GRPC_PORT: '0' }))
    t.teardown(() => second.kill('SIGKILL'))
    await second.waitForLog(l => l.msg === 'gateway ready', 90_000)
    let health: any
    for (let i = 0; i < 50; i++) {
      health = await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()
      if (health.workers.standby === 1) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.equal(health.workers.standby, 1, 'the worker\'s stream is held by the first gateway')
    t.equal(health.workers.connected, 0)
    t.equal(health.status, 'ok', 'which is healthy, not degraded')
    const res = await fetch(`http://127.0.0.1:${port}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'via the second gateway' }) })
    const { job_id: id } = await res.json()
    let status: any
    for (let i = 0; i < 100; i++) {
      status = await (await fetch(`http://127.0.0.1:${port}/api/status/${id}`)).json()
      if (status.status === 'finished') break
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    t.equal(status.status, 'finished', 'a job submitted there finishes, ingested by the first')
  })

  t.test('health reports each dependency', async t => {
    const health = await (await fetch(`${sys.baseUrl}/health`)).json()
    t.equal(health.status, 'ok')
    t.equal(health.redis, 'healthy')
    t.equal(health.mysql, 'healthy')
    t.equal(health.workers.connected, 1)
    t.same(await (await fetch(`${sys.baseUrl}/api/health`)).json(), health, '/api/health and /health agree')
  })
})
