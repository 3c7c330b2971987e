// Web hardening: security headers on the page and the API, CORS for CORS_ORIGINS only (preflights
// answered), state-changing requests from pages of other sites refused (a `no-cors` fetch cancels
// nothing), and error bodies in our own words while the drivers' go to the log.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { request } from 'node:http'
import { TestSystem } from './helpers/system.ts'
import { freePort } from './helpers/ports.ts'
import { launchBrowser } from './helpers/browser.ts'
import { cuttableSystem } from './helpers/cuttable-system.ts'

/** A raw HTTP request, so that browser-only headers (Origin, Sec-Fetch-Site) can be set as a browser sets them. */
function raw (url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', chunk => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A one-page site on its own origin (http://localhost:port), the page given as HTML. */
async function site (html: string): Promise<{ origin: string, server: Server }> {
  const port = await freePort()
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(html) })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  return { origin: `http://localhost:${port}`, server }
}

t.test('headers, CORS and cross-site requests', async t => {
  const friendPort = await freePort()
  const friend = `http://localhost:${friendPort}`
  const sys = await TestSystem.start(t, { name: 'webguard', workers: 0, gatewayEnv: { CORS_ORIGINS: friend } })
  const gw = sys.baseUrl

  t.test('security headers on the page and the API', async t => {
    for (const path of ['/', '/api/health', '/api/status/0190a1b2-0000-7000-8000-000000000000']) {
      const res = await fetch(`${gw}${path}`)
      const csp = res.headers.get('content-security-policy') ?? ''
      t.match(csp, /default-src 'self'/, `${path}: a CSP`)
      t.match(csp, /frame-ancestors 'none'/, `${path}: no site may frame it`)
      t.match(csp, /script-src 'self'/, `${path}: scripts from this origin only`)
      t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`)
      t.equal(res.headers.get('x-frame-options'), 'DENY', `${path}: X-Frame-Options for older browsers`)
      await res.arrayBuffer()
    }
  })

  t.test('preflights: answered, and allowed for CORS_ORIGINS only', async t => {
    const ask = (origin: string) => raw(`${gw}/api/generate`, 'OPTIONS', { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' })
    const stranger = await ask('https://evil.example')
    t.equal(stranger.status, 404, 'a stranger\'s preflight is answered (as no route for it: @fastify/cors)')
    t.equal(stranger.headers['access-control-allow-origin'], undefined, 'without allowing it')
    const allowed = await ask(friend)
    t.equal(allowed.status, 204)
    t.equal(allowed.headers['access-control-allow-origin'], friend, 'a listed origin is allowed')
    t.match(String(allowed.headers['access-control-allow-headers']), /content-type/)
    t.match(String(allowed.headers['access-control-allow-headers']), /idempotency-key/)
    t.equal(allowed.headers['access-control-allow-credentials'], 'true', 'with credentials (the original pages send them)')
    const simple = await raw(`${gw}/api/health`, 'GET', { origin: 'https://evil.example' })
    t.equal(simple.headers['access-control-allow-origin'], undefined, 'no CORS header for a stranger on a read')
  })

  t.test('state-changing requests from another site are refused; same origin, listed origins and non-browser clients are not', async t => {
    const id = (await sys.submit({ prompt: 'stays queued' })).body.job_id
    const cancel = (headers: Record<string, string>) => raw(`${gw}/api/cancel/${id}`, 'POST', headers)
    for (const headers of <Array<Record<string, string>>>[
      { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' },
      { origin: 'http://localhost:1', 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' } // an older browser: Origin only
    ]) {
      const res = await cancel(headers)
      t.equal(res.status, 403, `refused: ${JSON.stringify(headers)}`)
      t.match(JSON.parse(res.body), { code: 'CROSS_SITE_REFUSED' })
    }
    const textPlain = await raw(`${gw}/api/generate`, 'POST', { 'content-type': 'text/plain', 'sec-fetch-site': 'same-origin' }, JSON.stringify({ prompt: 'as text' }))
    t.equal(textPlain.status, 415, 'a submit must be JSON (a form or no-cors fetch cannot send it)')
    t.equal((await sys.status(id)).body.status, 'queued', 'nothing was cancelled')
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'as text'") as any
    t.equal(Number(rows[0].n), 0, 'nothing was created')

    const generate = (headers: Record<string, string>) => raw(`${gw}/api/generate`, 'POST', { 'content-type': 'application/json', ...headers }, JSON.stringify({ prompt: 'allowed' }))
    t.equal((await generate({ 'sec-fetch-site': 'same-origin', origin: gw })).status, 200, 'the page itself (same origin)')
    t.equal((await generate({ origin: gw })).status, 200, 'same origin, Origin only')
    t.equal((await generate({ 'sec-fetch-site': 'cross-site', origin: friend })).status, 200, 'a listed origin')
    t.equal((await generate({})).status, 200, 'a client that is not a browser (CLI, curl)')
    t.equal((await cancel({ 'sec-fetch-site': 'same-origin', origin: gw })).status, 200, 'the page can cancel')
  })

  t.test('in a browser: a page of another site cancels and creates nothing; a listed origin works; the page works under its CSP', async t => {
    const id = (await sys.submit({ prompt: 'a victim' })).body.job_id
    const evil = await site(`<!doctype html><title>evil</title><script>
      window.attack = async () => {
        const results = []
        for (const [path, init] of [
          ['/api/cancel/${id}', { method: 'POST', mode: 'no-cors' }],
          ['/api/generate', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ prompt: 'forged' }) }],
          ['/api/history', {}]
        ]) {
          try { const r = await fetch('${gw}' + path, init); results.push(r.type + ':' + r.status) } catch (e) { results.push('blocked') }
        }
        return results
      }
    </script>`)
    t.teardown(() => { evil.server.close() })
    // the friend's page, on the port listed in CORS_ORIGINS
    const friendServer = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>friend</title>') })
    await new Promise<void>(resolve => friendServer.listen(friendPort, '127.0.0.1', resolve))
    t.teardown(() => { friendServer.close() })

    const browser = await launchBrowser()
    t.teardown(() => browser.close())
    const page = await browser.context.newPage()
    await page.goto(evil.origin)
    const results = await page.evaluate(() => (window as any).attack())
    t.same(results, ['opaque:0', 'opaque:0', 'blocked'], 'no-cors requests go out (opaque), reads are blocked')
    t.equal((await sys.status(id)).body.status, 'queued', 'the no-cors POST cancelled nothing')
    const [rows] = await sys.db.pool.query("SELECT COUNT(*) AS n FROM jobs WHERE prompt = 'forged'") as any
    t.equal(Number(rows[0].n), 0, 'and created nothing')
    t.ok(sys.gateway!.logs.some(l => l.msg === 'cross-site request refused' && l.origin === evil.origin), 'the gateway logs the refusal with the origin')

    await page.goto(friend)
    const submitted = await page.evaluate(async (gateway: string) => {
      const r = await fetch(`${gateway}/api/generate`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'from a friend' }) })
      return { status: r.status, body: await r.json() }
    }, gw)
    t.equal(submitted.status, 200, 'a page of a listed origin submits (with credentials) and reads the answer')
    t.ok(submitted.body.job_id)

    const violations: string[] = []
    page.on('console', m => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
    page.on('pageerror', e => violations.push(e.message))
    await page.goto(gw)
    await page.waitForFunction(() => (document.querySelector('#workflow') as HTMLSelectElement | null)?.options.length! > 0)
    t.same(violations, [], 'the built-in page runs under its CSP')
    await page.goto(`${gw}/docs`)
    await page.waitForSelector('.swagger-ui .info', { timeout: 30_000 })
    t.same(violations, [], 'and so does /docs')
  })
})

t.test('error bodies carry our words; the drivers\' go to the log', async t => {
  const { sys, redis, dbProxy } = await cuttableSystem(t, 'drivertext', { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' })
  const id = (await sys.submit({ prompt: 'before the outages' })).body.job_id
  const DRIVER = /socket|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|Connection is closed|ETIMEDOUT|pool|connect /i
  await redis.stop()
  const submit = await sys.submit({ prompt: 'while Redis is down' })
  t.equal(submit.body.code, 'QUEUE_UNAVAILABLE')
  t.notMatch(JSON.stringify(submit.body), DRIVER, `submit: ${JSON.stringify(submit.body)}`)
  const cancel = await fetch(`${sys.baseUrl}/api/cancel/${id}`, { method: 'POST' })
  const cancelBody = await cancel.json()
  t.equal(cancelBody.code, 'QUEUE_UNAVAILABLE')
  t.notMatch(JSON.stringify(cancelBody), DRIVER, `cancel: ${JSON.stringify(cancelBody)}`)
  const metrics = await (await fetch(`${sys.baseUrl}/api/metrics`)).json()
  t.notMatch(JSON.stringify(metrics), DRIVER, `queue metrics: ${JSON.stringify(metrics)}`)
  t.ok(sys.gateway!.logs.some(l => l.msg === 'request failed' && l.code === 'QUEUE_UNAVAILABLE' && typeof l.cause === 'string' && l.cause.length > 0), 'the driver\'s text is logged')
  await redis.start()

  dbProxy.cut(true)
  let down = await sys.submit({ prompt: 'while the database is down' })
  for (let i = 0; i < 20 && down.body.code === 'QUEUE_UNAVAILABLE'; i++) { await new Promise(resolve => setTimeout(resolve, 250)); down = await sys.submit({ prompt: 'while the database is down' }) }
  t.equal(down.body.code, 'DATABASE_UNAVAILABLE')
  t.notMatch(JSON.stringify(down.body), DRIVER, `submit: ${JSON.stringify(down.body)}`)
  dbProxy.resume()
})
