// An Idempotency-Key makes a repeated or concurrent submit return the same job instead of a second one.
import t from 'tap'
import { TestSystem } from './helpers/system.ts'
import { ServiceProcess } from './helpers/service-process.ts'
import { freePort } from './helpers/ports.ts'

t.test('idempotent submit', async t => {
  const sys = await TestSystem.start(t, { name: 'idem', workers: 0, gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' } })
  const post = (body: unknown, key?: string) => fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
    body: JSON.stringify(body)
  })
  const count = async (sql: string, args: unknown[] = []) => Number(((await sys.db.pool.query(sql, args)) as any)[0][0].n)

  t.test('100 concurrent submits with one key make exactly one job', async t => {
    const body = { prompt: 'one cat, many clicks', seed: 5 }
    const responses = await Promise.all(Array.from({ length: 100 }, () => post(body, 'click-storm-1')))
    const statuses = responses.map(r => r.status)
    t.same([...new Set(statuses)], [200], 'every call answers 200')
    const ids = new Set(await Promise.all(responses.map(async r => (await r.json()).job_id)))
    t.equal(ids.size, 1, 'all with the same job_id')
    t.equal(await count("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'one cat, many clicks'"), 1, 'one row')
    const counts = await sys.queueCounts()
    t.equal(counts.waiting + counts.prioritized, 1, 'one queue entry')
    t.equal(responses.filter(r => r.headers.get('idempotent-replayed') === 'true').length, 99, '99 answers say they are replays')
  })

  t.test('two gateways racing one key: the database decides, both answer with the one job', async t => {
    // Each gateway serialises a key's submits in memory; across gateways only the unique index on
    // idempotency_key stops a second row, and the loser must answer with the winner's job.
    const port = await freePort()
    const second = new ServiceProcess('gateway', sys.gatewayEnv({ PORT: String(port), GATEWAY_GRPC_PORT: '0' }))
    t.teardown(() => second.kill('SIGKILL'))
    await second.waitForLog(l => l.msg === 'gateway ready', 120_000)
    const urls = [sys.baseUrl, `http://127.0.0.1:${port}`]
    for (let round = 0; round < 10; round++) {
      const key = `two-gateways-${round}`
      const body = { prompt: `raced ${round}`, seed: round }
      const responses = await Promise.all(Array.from({ length: 20 }, (_x, i) => fetch(`${urls[i % 2]}/api/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body)
      })))
      const bodies = await Promise.all(responses.map(r => r.json()))
      t.same([...new Set(responses.map(r => r.status))], [200], `round ${round}: every call answers 200`)
      t.equal(new Set(bodies.map(b => b.job_id)).size, 1, `round ${round}: one job_id`)
      t.equal(await count('SELECT COUNT(*) AS n FROM jobs WHERE idempotency_key = ?', [key]), 1, `round ${round}: one row`)
    }
    const races = second.logs.concat(sys.gateway!.logs).filter(l => l.step === 'db_insert_failed' || l.step === 'commit_failed')
    t.same(races, [], 'no submit failed on the duplicate key')
  })

  t.test('a repeat later returns the same job', async t => {
    const first = await (await post({ prompt: 'again' }, 'key-again')).json()
    const second = await post({ prompt: 'again' }, 'key-again')
    t.equal(second.status, 200)
    t.equal((await second.json()).job_id, first.job_id)
  })

  t.test('keys compare exactly: keys that differ only in case are different keys', async t => {
    const keys = ['Order-ABC-1', 'order-abc-1', 'ORDER-abc-1']
    const answers = await Promise.all(keys.map(async key => ({ key, res: await post({ prompt: `exact key ${key}` }, key) })))
    for (const { key, res } of answers) t.equal(res.status, 200, `${key}: accepted`)
    const ids = await Promise.all(answers.map(async a => (await a.res.json()).job_id))
    t.equal(new Set(ids).size, keys.length, 'each key made its own job (none replayed another\'s)')
    const [rows] = await sys.db.pool.query("SELECT idempotency_key AS k FROM jobs WHERE prompt LIKE 'exact key %' ORDER BY k") as any
    t.same(rows.map((r: any) => r.k), [...keys].sort(), 'one row per key, stored as given')
    const again = await post({ prompt: 'exact key order-abc-1' }, 'order-abc-1')
    t.equal((await again.json()).job_id, ids[1], 'and a repeat of one of them returns its own job')
  })

  t.test('a key reused with a different body is a 409', async t => {
    const first = await (await post({ prompt: 'original body' }, 'key-conflict')).json()
    const res = await post({ prompt: 'another body' }, 'key-conflict')
    t.equal(res.status, 409)
    const body = await res.json()
    t.equal(body.code, 'IDEMPOTENCY_CONFLICT')
    t.match(body.error, /Idempotency-Key/)
    t.equal(body.job_id, first.job_id, 'names the job the key belongs to')
    t.equal(await count("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'another body'"), 0, 'no row for the refused body')
  })

  t.test('defaults count as given: {prompt} and {prompt, aspect_ratio:"1:1"} are the same request', async t => {
    const a = await (await post({ prompt: 'defaults' }, 'key-defaults')).json()
    const b = await post({ prompt: 'defaults', aspect_ratio: '1:1', batch_size: 1 }, 'key-defaults')
    t.equal(b.status, 200)
    t.equal((await b.json()).job_id, a.job_id)
  })

  t.test('without a key, two submits are two jobs; different keys are different jobs', async t => {
    const a = await (await post({ prompt: 'twice' })).json()
    const b = await (await post({ prompt: 'twice' })).json()
    t.not(a.job_id, b.job_id)
    const c = await (await post({ prompt: 'twice' }, 'k1')).json()
    const d = await (await post({ prompt: 'twice' }, 'k2')).json()
    t.not(c.job_id, d.job_id)
  })

  t.test('a bad key is a 400 naming the header', async t => {
    for (const key of ['x'.repeat(129), 'has space']) {
      const res = await post({ prompt: 'bad key' }, key)
      t.equal(res.status, 400, `${key.slice(0, 12)}… → 400`)
      t.match((await res.json()).error, /idempotency-key/i)
    }
    t.equal(await count("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'bad key'"), 0, 'and no row')
  })
})
