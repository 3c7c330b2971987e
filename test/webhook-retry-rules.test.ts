// The rules a webhook's retries and attempts follow, checked without a system: the delay before each
// retry doubles from WEBHOOK_RETRY_BASE_MS up to WEBHOOK_RETRY_MAX_MS with jitter; by default an event
// is retried for more than 24 h; bad settings stop start-up naming the variable; one attempt is cut at
// WEBHOOK_TIMEOUT_MS when the receiver does not answer, or does not finish its answer.
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { retryDelayMs } from '../services/gateway/src/webhooks/webhook-dispatcher.ts'
import { loadWebhookConfig } from '../services/gateway/src/webhooks/webhook-config.ts'
import { sendWebhook } from '../services/gateway/src/webhooks/webhook-sender.ts'

t.test('retries back off exponentially, capped, with jitter', async t => {
  const config = { retryBaseMs: 5000, retryMaxMs: 3600_000 }
  for (let attempt = 1; attempt <= 14; attempt++) {
    const full = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** (attempt - 1))
    const delays = Array.from({ length: 200 }, () => retryDelayMs(attempt, config))
    t.ok(delays.every(d => d >= full / 2 && d <= full), `attempt ${attempt}: every delay within [${full / 2}, ${full}] ms`)
    t.ok(new Set(delays).size > 1, `attempt ${attempt}: the delays differ (jitter)`)
  }
  t.ok(retryDelayMs(1000, config) <= config.retryMaxMs, 'a very late attempt still waits at most the max')
})

t.test('by default an event is retried for more than 24 h, each attempt bounded', async t => {
  const config = loadWebhookConfig({})
  t.ok(config.retryForMs >= 24 * 3600_000, `retried for ${config.retryForMs / 3600_000} h`)
  t.equal(config.timeoutMs, 10_000, 'one attempt: 10 s at most')
  t.equal(config.allowPrivate, false, 'private addresses refused unless asked for')
  t.equal(config.allowHttpHosts.size, 0, 'https only unless hosts are listed')
})

t.test('bad retry settings stop start-up naming the variable', async t => {
  t.throws(() => loadWebhookConfig({ WEBHOOK_RETRY_BASE_MS: '5000', WEBHOOK_RETRY_MAX_MS: '1000' }), /WEBHOOK_RETRY_MAX_MS/)
  t.throws(() => loadWebhookConfig({ WEBHOOK_TIMEOUT_MS: '0' }), /WEBHOOK_TIMEOUT_MS/)
  t.throws(() => loadWebhookConfig({ WEBHOOK_RETRY_FOR_MS: 'a day' }), /WEBHOOK_RETRY_FOR_MS/)
  t.throws(() => loadWebhookConfig({ WEBHOOK_ALLOW_PRIVATE: 'maybe' }), /WEBHOOK_ALLOW_PRIVATE/)
})

/** A receiver on 127.0.0.1 whose answer `handle` decides; resolves `seen` at the first request. */
async function receiver (t: Test, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string, seen: Promise<void> }> {
  let saw: () => void = () => {}
  const seen = new Promise<void>(resolve => { saw = resolve })
  const server = createServer((req, res) => { saw(); handle(req, res) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`, seen }
}

t.test('an attempt is cut at its timeout', async t => {
  await t.test('a receiver that never answers', async t => {
    const r = await receiver(t, () => {})
    const result = await sendWebhook(r.url, {}, '{}', { timeoutMs: 300, allowPrivate: true })
    await r.seen
    t.same(result, { status: null, error: 'no answer within 300 ms' }, 'no status: not delivered')
  })
  await t.test('a receiver that sends its status but never finishes the answer', async t => {
    const r = await receiver(t, (_req, res) => { res.writeHead(200); res.write('partial') })
    const result = await sendWebhook(r.url, {}, '{}', { timeoutMs: 300, allowPrivate: true })
    await r.seen
    t.same(result, { status: null, error: 'no answer within 300 ms' }, 'an unfinished 200 is not a delivery')
  })
})
