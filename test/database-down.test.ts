// Down or busy: a failed submit blames the database only when it is away (its link refused, silent or
// flapping), and load only when every pool connection was taken by work it answers. The busy side is
// test/overload.test.ts.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { cuttableSystem } from './helpers/cuttable-system.ts'

t.test('the database away while every pool connection is busy: DATABASE_UNAVAILABLE, never OVERLOADED', async t => {
  // Two connections and twenty clients: submits wait for a connection, as under overload. Whether the
  // link is refused or silent, the answer must blame the database, not the load.
  const { sys, dbProxy } = await cuttableSystem(t, 'dbdownbusy', { DB_POOL_SIZE: '2', TX_MAX_WAIT_MS: '300', TX_TIMEOUT_MS: '1500', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' })
  t.equal((await sys.submit({ prompt: 'before the outage' })).status, 200)
  for (const outage of ['refused', 'silent'] as const) {
    if (outage === 'refused') dbProxy.cut(true)
    else dbProxy.freeze()
    // half of them carry an Idempotency-Key: the lookup of an earlier job is the first thing to meet the database
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => sys.submit({ prompt: `during the ${outage} outage` },
      i % 2 === 0 ? { 'idempotency-key': `${outage}-${i}` } : {})))
    dbProxy.resume()
    const codes = answers.map(a => a.body.code ?? a.status)
    t.same([...new Set(codes)], ['DATABASE_UNAVAILABLE'], `${outage} link: every answer blames the database (${JSON.stringify(codes.filter(c => c !== 'DATABASE_UNAVAILABLE'))})`)
    // bounded, not waiting for the link (which stays down until every answer is in); a wide margin for a busy machine
    t.ok(answers.every(a => a.ms < 60_000), `${outage} link: each within its bounds (slowest ${Math.max(...answers.map(a => a.ms)).toFixed(0)} ms)`)
    let again = await sys.submit({ prompt: 'after the outage' })
    for (let i = 0; i < 50 && again.status !== 200; i++) { await sleep(200); again = await sys.submit({ prompt: 'after the outage' }) }
    t.equal(again.status, 200, 'submits work again once the link is back')
  }
  const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt LIKE 'during the %'") as any
  t.equal(Number(rows[0].n), 0, 'no row from the outages')
})

t.test('a flapping database link with connections to spare: never OVERLOADED', async t => {
  // Four clients, sixteen connections: the pool is never exhausted, so no failure here is overload,
  // though between flaps the database answers a probe.
  const { sys, dbProxy } = await cuttableSystem(t, 'dbflap', { DB_POOL_SIZE: '16', TX_MAX_WAIT_MS: '300', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' })
  let flapping = true
  const flaps = (async () => {
    while (flapping) {
      dbProxy.cut(true)
      await sleep(100 + Math.random() * 300)
      dbProxy.resume()
      await sleep(200 + Math.random() * 500)
    }
  })()
  const codes = new Map<string, number>()
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = 0; i < 25; i++) {
      const res = await sys.submit({ prompt: 'on a flapping link' })
      const code = res.status === 200 ? '200' : res.body.code
      codes.set(code, (codes.get(code) ?? 0) + 1)
    }
  }))
  flapping = false
  await flaps
  dbProxy.resume()
  t.comment(JSON.stringify(Object.fromEntries(codes)))
  t.ok((codes.get('DATABASE_UNAVAILABLE') ?? 0) > 0, 'the flaps were felt')
  t.notOk(codes.has('OVERLOADED'), 'and never blamed on load')
})

