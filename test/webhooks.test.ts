// Signed webhooks (Standard Webhooks) from a durable outbox: a real receiver checks every signature
// with the `standardwebhooks` package; a receiver that is down gets the events once it is back; a
// gateway killed mid-delivery delivers once it is back, the duplicate carrying the same webhook-id;
// 50 jobs at once against a slow receiver; bad webhook URLs are a 400 naming `webhook` that writes
// nothing; the address is checked again at delivery (DNS rebinding); secrets rotate with an overlap.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { countKeys } from './helpers/redis-keys.ts'
import { freePort } from './helpers/ports.ts'
import { JobsGrpc } from './helpers/grpc-jobs.ts'
import { WebhookReceiver, type ReceivedWebhook } from './helpers/webhook-receiver.ts'
import { Webhook } from 'standardwebhooks'
import { sendWebhook } from '../services/gateway/src/webhooks/webhook-sender.ts'

/** Retries every few tens of ms, so nothing here waits on the production backoff. */
const FAST_RETRIES = {
  WEBHOOK_RETRY_BASE_MS: '50',
  WEBHOOK_RETRY_MAX_MS: '400',
  WEBHOOK_POLL_MS: '50',
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_ALLOW_HTTP_HOSTS: '127.0.0.1,localhost',
  SUBMIT_RATE_LIMIT_PER_MINUTE: '0'
}
const REACH_LOOPBACK = { WEBHOOK_ALLOW_PRIVATE: 'true' }

async function deliveryLog (sys: TestSystem, jobId: string): Promise<any> {
  const res = await fetch(`${sys.baseUrl}/api/jobs/${jobId}/webhooks`)
  return res.json()
}

/** Until at least `events` of the job's webhooks, its `completed` one among them (the last event), are all delivered. */
async function untilDelivered (sys: TestSystem, jobId: string, events: number, timeoutMs = 90_000): Promise<any> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const log = await deliveryLog(sys, jobId).catch(() => null)
    if (log?.deliveries?.length >= events && log.deliveries.some((d: any) => d.event === 'completed') &&
        log.deliveries.every((d: any) => d.state === 'delivered')) return log
    if (Date.now() > deadline) throw new Error(`webhooks of ${jobId} not delivered: ${JSON.stringify(log)}`)
    await sleep(100)
  }
}

function typesOf (received: ReceivedWebhook[], jobId: string): string[] {
  return received.filter(r => r.jobId === jobId).map(r => r.type)
}

t.test('webhooks', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, {
    name: 'hooks',
    redisUrl: redis.url,
    workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '40' },
    gatewayEnv: { ...FAST_RETRIES, WEBHOOK_ALLOW_PRIVATE: 'false' }
  })
  await sys.waitForWorkersConnected()
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  const receiver = new WebhookReceiver(await freePort())
  await receiver.start()
  t.teardown(() => receiver.stop())

  await t.test('bad webhook URLs: 400 naming webhook, and nothing written', async t => {
    const rows = async () => Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs')) as any)[0][0].n)
    const queued = async () => Object.values(await sys.queueCounts()).reduce((a, b) => a + b, 0)
    const bad = [
      'not a url', 'ftp://example.com/hook', 'http://example.com/hook', 'https://user:pw@example.com/hook', 'javascript:alert(1)',
      `http://127.0.0.1:${receiver.port}/hooks`, 'http://localhost/hooks', 'https://127.0.0.1/hooks', 'https://10.1.2.3/hooks',
      'https://192.168.0.10/hooks', 'https://172.16.5.4/hooks', 'https://169.254.169.254/latest/meta-data/', 'https://[::1]/hooks',
      'https://[fd00::1]/hooks', 'https://[::ffff:127.0.0.1]/hooks', 'https://0.0.0.0/hooks', 'https://100.64.0.1/hooks',
      'https://no-such-host.invalid/hooks'
    ]
    for (const webhook of bad) {
      const res = await fetch(`${sys.baseUrl}/api/generate`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'bad hook', webhook })
      })
      const body = await res.json() as any
      t.equal(res.status, 400, webhook)
      t.equal(body.details?.[0]?.field, 'webhook', `${webhook}: names webhook (${body.error})`)
    }
    const filterOnly = await sys.submit({ prompt: 'filter, no hook', webhook_events_filter: ['completed'] })
    t.equal(filterOnly.status, 400)
    const badFilter = await sys.submit({ prompt: 'bad filter', webhook: 'https://example.com/h', webhook_events_filter: ['finished'] })
    t.equal(badFilter.status, 400)
    t.match(badFilter.body.error, /webhook_events_filter/)
    const grpc = new JobsGrpc(`127.0.0.1:${sys.gatewayGrpcPort}`)
    const err = await grpc.fails('Submit', { prompt: 'grpc bad hook', webhook: 'https://169.254.169.254/' })
    t.match(err.details, /webhook/)
    grpc.client.close()
    t.equal(await rows(), 0, 'no row')
    t.equal(await queued(), 0, 'no queue entry')
    t.equal(await countKeys(client, 'job:status:*'), 0, 'no status key')
    t.equal(Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM webhook_deliveries')) as any)[0][0].n), 0, 'no outbox row')
  })

  await t.test('the address is checked again when the webhook is sent (DNS rebinding)', async t => {
    const before = receiver.received.length
    const result = await sendWebhook(`http://localhost:${receiver.port}/hooks`, {}, '{}', { timeoutMs: 2000, allowPrivate: false })
    t.equal(result.status, null)
    t.match(result.error, /loopback, private/)
    t.equal(receiver.received.length, before, 'nothing reached the receiver')
  })

  // from here the receiver on 127.0.0.1 is reachable
  await sys.gateway!.kill('SIGTERM')
  await sys.startGateway(REACH_LOOPBACK)
  await sys.waitForWorkersConnected()
  const secrets = async () => ((await (await fetch(`${sys.baseUrl}/api/webhooks/secrets`)).json()) as any).secrets.map((s: any) => s.secret)
  receiver.trust(await secrets())

  await t.test('every event, signed, in order; the delivery log', async t => {
    const res = await sys.submit({ prompt: 'hook me', seed: 1, webhook: receiver.url })
    t.equal(res.status, 200)
    const jobId = res.body.job_id
    const log = await untilDelivered(sys, jobId, 3)
    const types = typesOf(receiver.received, jobId)
    t.equal(types[0], 'job.start', 'start first')
    t.equal(types.at(-1), 'job.completed', 'completed last')
    t.equal(types.at(-2), 'job.output', 'output before completed')
    t.ok(types.includes('job.progress'), 'progress events too')
    const mine = receiver.received.filter(r => r.jobId === jobId)
    t.ok(mine.every(r => r.verified), 'every signature verifies with standardwebhooks')
    t.equal(new Set(mine.map(r => r.id)).size, mine.length, 'one webhook-id per event')
    const completed = mine.at(-1)!
    t.equal(completed.body.data.status, 'finished')
    t.equal(completed.body.data.outputs.length, 1)
    t.equal(log.webhook, receiver.url)
    t.same(log.events, ['start', 'progress', 'output', 'completed'])
    for (const d of log.deliveries) {
      t.equal(d.attempt_log.length, 1, `${d.event}: one attempt`)
      t.equal(d.attempt_log[0].status_code, 204)
      t.equal(d.next_attempt_at, null)
    }
  })

  await t.test('webhook_events_filter: only the events asked for; gRPC takes the same fields', async t => {
    const res = await sys.submit({ prompt: 'only the end', seed: 2, webhook: receiver.url, webhook_events_filter: ['completed'] })
    const jobId = res.body.job_id
    await untilDelivered(sys, jobId, 1)
    await sys.waitForStatus(jobId, s => s.status === 'finished')
    await sleep(300)
    t.same(typesOf(receiver.received, jobId), ['job.completed'])
    const grpc = new JobsGrpc(`127.0.0.1:${sys.gatewayGrpcPort}`)
    const submitted = await grpc.call('Submit', { prompt: 'grpc hook', seed: 3, webhook: receiver.url, webhook_events_filter: ['start', 'completed'] })
    grpc.client.close()
    await untilDelivered(sys, submitted.job_id, 2)
    t.same(typesOf(receiver.received, submitted.job_id), ['job.start', 'job.completed'])
  })

  await t.test('a receiver that is down for a while gets the events once it is back', async t => {
    const late = new WebhookReceiver(await freePort())
    late.trust(await secrets())
    const res = await sys.submit({ prompt: 'receiver down', seed: 4, webhook: late.url, webhook_events_filter: ['start', 'completed'] })
    const jobId = res.body.job_id
    await sys.waitForStatus(jobId, s => s.status === 'finished')
    // wait until several attempts have failed (connection refused)
    for (;;) {
      const log = await deliveryLog(sys, jobId)
      if (log.deliveries[0]?.attempts >= 3) break
      await sleep(100)
    }
    const down = await deliveryLog(sys, jobId)
    t.equal(down.deliveries[0].state, 'pending')
    t.equal(down.deliveries[0].attempt_log[0].status_code, null)
    t.match(down.deliveries[0].attempt_log[0].error, /ECONNREFUSED/)
    t.type(down.deliveries[0].next_attempt_at, 'string', 'the next retry is shown')
    t.equal(down.deliveries[1].attempts, 0, 'completed waits behind start')
    await late.start()
    t.teardown(() => late.stop())
    const log = await untilDelivered(sys, jobId, 2)
    t.same(typesOf(late.received, jobId), ['job.start', 'job.completed'], 'in order, once back')
    t.ok(late.received.every(r => r.verified))
    t.ok(log.deliveries[0].attempts >= 4)
  })

  await t.test('a receiver that answers 500 or redirects is retried; a redirect is not followed', async t => {
    let n = 0
    const target = new WebhookReceiver(await freePort())
    await target.start()
    t.teardown(() => target.stop())
    target.trust(await secrets())
    receiver.answer = (hook, res) => {
      if (hook.type !== 'job.completed' || hook.body.data.prompt !== 'flaky') return void res.writeHead(204).end()
      n++
      if (n === 1) return void res.writeHead(500).end('no')
      if (n === 2) return void res.writeHead(302, { location: target.url }).end()
      res.writeHead(200).end('ok')
    }
    t.teardown(() => { receiver.answer = (_h, res) => { res.writeHead(204).end() } })
    const res = await sys.submit({ prompt: 'flaky', seed: 5, webhook: receiver.url, webhook_events_filter: ['completed'] })
    const log = await untilDelivered(sys, res.body.job_id, 1)
    t.same(log.deliveries[0].attempt_log.map((a: any) => a.status_code), [500, 302, 200])
    const ids = receiver.received.filter(r => r.jobId === res.body.job_id).map(r => r.id)
    t.equal(new Set(ids).size, 1, 'the same webhook-id on every attempt')
    t.equal(target.received.length, 0, 'the redirect was not followed')
  })

  await t.test('rotation: old and new secrets both sign for the overlap', async t => {
    const old = await secrets()
    const rotated = await (await fetch(`${sys.baseUrl}/api/webhooks/secrets/rotate`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ overlap_seconds: 3600 })
    })).json() as any
    t.equal(rotated.secrets.length, old.length + 1)
    t.type(rotated.secrets[1].expires_at, 'string', 'the old one expires')
    t.equal(rotated.secrets[0].expires_at, null)
    t.match(rotated.secrets[0].secret, /^whsec_/)
    const res = await sys.submit({ prompt: 'rotated', seed: 6, webhook: receiver.url, webhook_events_filter: ['completed'] })
    await untilDelivered(sys, res.body.job_id, 1)
    const hook = receiver.received.find(r => r.jobId === res.body.job_id)!
    t.equal(hook.headers['webhook-signature'].split(' ').length, 2, 'two signatures during the overlap')
    for (const [name, secret] of [['old', old[0]], ['new', rotated.secrets[0].secret]]) {
      t.doesNotThrow(() => new Webhook(secret).verify(hook.raw, hook.headers), `the ${name} secret alone verifies it`)
    }
    t.throws(() => new Webhook('whsec_' + Buffer.alloc(32, 7).toString('base64')).verify(hook.raw, hook.headers), 'another secret does not')
    receiver.trust(rotated.secrets.map((s: any) => s.secret))
  })

  await t.test('gateway kill -9 mid-delivery: delivered once it is back, duplicates carry the same webhook-id', async t => {
    let release: (() => void) | null = null
    let held = false
    receiver.answer = async (hook, res) => {
      if (hook.body.data.prompt === 'killed mid-delivery' && !held) {
        held = true
        await new Promise<void>(resolve => { release = resolve })
        res.destroy()
        return
      }
      res.writeHead(204).end()
    }
    t.teardown(() => { receiver.answer = (_h, res) => { res.writeHead(204).end() } })
    const res = await sys.submit({ prompt: 'killed mid-delivery', seed: 7, webhook: receiver.url, webhook_events_filter: ['completed'] })
    const jobId = res.body.job_id
    await receiver.until(r => r.some(h => h.jobId === jobId))
    await sys.gateway!.kill('SIGKILL')
    release!()
    await sys.startGateway(REACH_LOOPBACK)
    await sys.waitForWorkersConnected()
    const log = await untilDelivered(sys, jobId, 1)
    const mine = receiver.received.filter(r => r.jobId === jobId)
    t.ok(mine.length >= 2, `sent again after the restart (${mine.length} arrivals)`)
    t.equal(new Set(mine.map(r => r.id)).size, 1, 'every arrival carries the same webhook-id')
    t.ok(mine.every(r => r.verified))
    t.equal(log.deliveries[0].state, 'delivered')
  })

  await t.test('one submit group, mixed: each row keeps its own webhook, filter and owner', async t => {
    const groups = async () => {
      const text = await (await fetch(`${sys.baseUrl}/metrics`)).text()
      const num = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
      return { count: num('comfy_jobs_submit_group_size_count'), sum: num('comfy_jobs_submit_group_size_sum') }
    }
    const before = await groups()
    const kinds = [undefined, ['completed'], ['start', 'progress', 'output', 'completed']] as const
    const submits = await Promise.all(Array.from({ length: 12 }, (_, i) => {
      const filter = kinds[i % 3]
      return sys.submit({ prompt: `mixed ${i}`, seed: 300 + i, ...(i % 3 === 0 ? {} : { webhook: `${receiver.url}?n=${i}`, webhook_events_filter: filter }) })
    }))
    t.ok(submits.every(s => s.status === 200), 'all 12 accepted')
    const after = await groups()
    t.ok(after.sum - before.sum > after.count - before.count, `some went in one group (${after.sum - before.sum} jobs in ${after.count - before.count} transactions)`)
    const [rows] = await sys.db.pool.query('SELECT id, owner, webhook, webhook_events FROM jobs WHERE id IN (?)', [submits.map(s => s.body.job_id)]) as any
    const byId = new Map<string, any>(rows.map((r: any) => [r.id, r]))
    submits.forEach((s, i) => {
      const row = byId.get(s.body.job_id)
      t.equal(row?.owner, 'local', `job ${i}: the owner (auth off)`)
      if (i % 3 === 0) t.same([row?.webhook, row?.webhook_events], [null, null], `job ${i}: no webhook`)
      else t.same([row?.webhook, row?.webhook_events], [`${receiver.url}?n=${i}`, kinds[i % 3]!.join(',')], `job ${i}: its own webhook and events`)
    })
    const ids = submits.filter((_, i) => i % 3 !== 0).map(s => s.body.job_id)
    await receiver.until(r => ids.every(id => r.some(h => h.jobId === id && h.type === 'job.completed')), 180_000)
    for (const s of submits.filter((_, i) => i % 3 === 0)) {
      await sys.waitForStatus(s.body.job_id, st => st.status === 'finished')
      t.equal(Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM webhook_deliveries WHERE job_id = ?', [s.body.job_id])) as any)[0][0].n), 0, 'a job without a webhook has no outbox row')
    }
  })

  await t.test('50 jobs at once, a slow receiver: every job\'s events arrive, in order', async t => {
    receiver.answer = async (_hook, res) => {
      await sleep(150)
      res.writeHead(204).end()
    }
    t.teardown(() => { receiver.answer = (_h, res) => { res.writeHead(204).end() } })
    const started = Date.now()
    const submits = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      sys.submit({ prompt: `many ${i}`, seed: 100 + i, webhook: receiver.url, webhook_events_filter: ['start', 'completed'] })))
    t.ok(submits.every(s => s.status === 200), 'all 50 accepted')
    const ids = submits.map(s => s.body.job_id)
    await receiver.until(r => ids.every(id => r.some(h => h.jobId === id && h.type === 'job.completed')), 180_000)
    for (const id of ids) await untilDelivered(sys, id, 2)
    const inOrder = ids.every(id => {
      const types = typesOf(receiver.received, id)
      return types.indexOf('job.start') < types.indexOf('job.completed')
    })
    t.ok(inOrder, 'start before completed for every job')
    t.ok(receiver.received.filter(r => ids.includes(r.jobId)).every(r => r.verified), 'all verified')
    t.comment(`50 jobs with a 150 ms receiver: all webhooks delivered ${Date.now() - started} ms after the submits began`)
  })
})
