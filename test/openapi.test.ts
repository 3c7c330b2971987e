// Every route of the OpenAPI document is called, and every answer is checked against the schema the
// document declares for its status code (ajv over GET /openapi.json), so the docs cannot drift.
import t from 'tap'
import Ajv from 'ajv'
import { TestSystem } from './helpers/system.ts'
import { pngSize } from './helpers/png.ts'

interface Call {
  method: 'GET' | 'POST' | 'DELETE'
  /** the path as the document names it */
  route: string
  url: string
  init?: RequestInit
}

const PNG_1x1 = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' + '1f15c4890000000d49444154789c6360f8ffff3f0005fe02fea7d6a4590000000049454e44ae426082', 'hex')

function upload (bytes: Buffer, field = 'file', filename = 'in.png'): RequestInit {
  const form = new FormData()
  form.append(field, new Blob([new Uint8Array(bytes)]), filename)
  return { method: 'POST', body: form }
}

t.test('the OpenAPI document describes every answer the gateway gives', async t => {
  const sys = await TestSystem.start(t, { name: 'openapi', workers: 1, gatewayEnv: { UPLOAD_MAX_BYTES: '4096', SSE_KEEPALIVE_MS: '200' } })
  await sys.waitForWorkersConnected()
  const doc = await (await fetch(`${sys.baseUrl}/openapi.json`)).json() as any
  t.match(doc.openapi, /^3\./)

  const docs = await fetch(`${sys.baseUrl}/docs/`)
  t.equal(docs.status, 200, '/docs/ serves the interactive documentation')
  t.match(await docs.text(), /swagger-ui/i)

  const done = await sys.submit({ prompt: 'documented', aspect_ratio: '9:16' })
  const finished = await sys.waitForStatus(done.body.job_id, s => s.status === 'finished')
  const jobId = done.body.job_id
  const missing = '01900000-0000-7000-8000-000000000000'
  const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  // a user of the accounts routes, and their session cookie
  const account = { email: 'docs@example.com', password: 'documented password', name: 'Docs' }
  await fetch(`${sys.baseUrl}/api/register`, json(account))
  const cookie = (await fetch(`${sys.baseUrl}/api/login`, json({ email: account.email, password: account.password }))).headers.getSetCookie()[0].split(';')[0]
  const withCookie = (init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...init.headers as Record<string, string>, cookie } })

  const calls: Call[] = [
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: json({ prompt: 'a call' }) },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: { ...json({ prompt: 'one key' }), headers: { 'content-type': 'application/json', 'idempotency-key': 'openapi-1' } } },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: { ...json({ prompt: 'same key, other body' }), headers: { 'content-type': 'application/json', 'idempotency-key': 'openapi-1' } } },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: json({ prompt: 'x', aspect_ratio: '5:4' }) },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' } },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: json({ prompt: 'x'.repeat(70_000) }) },
    { method: 'GET', route: '/api/status/{job_id}', url: `/api/status/${jobId}` },
    { method: 'GET', route: '/api/status/{job_id}', url: `/api/status/${missing}` },
    { method: 'POST', route: '/api/cancel/{job_id}', url: `/api/cancel/${jobId}` },
    { method: 'POST', route: '/api/cancel/{job_id}', url: `/api/cancel/${missing}` },
    { method: 'GET', route: '/api/health', url: '/api/health' },
    { method: 'GET', route: '/health', url: '/health' },
    { method: 'GET', route: '/ready', url: '/ready' },
    { method: 'GET', route: '/outputs/{*}', url: finished.image_url },
    { method: 'GET', route: '/outputs/{*}', url: `/outputs/${missing}.png` },
    { method: 'GET', route: '/outputs/{*}', url: '/outputs/..%2F..%2Fetc%2Fpasswd' },
    { method: 'GET', route: '/api/jobs/{job_id}', url: `/api/jobs/${jobId}` },
    { method: 'GET', route: '/api/jobs/{job_id}', url: `/api/jobs/${missing}` },
    { method: 'GET', route: '/api/jobs/{job_id}/events', url: `/api/jobs/${jobId}/events` },
    { method: 'GET', route: '/api/jobs/{job_id}/events', url: `/api/jobs/${jobId}/events?last_event_id=999` },
    { method: 'GET', route: '/api/jobs/{job_id}/events', url: `/api/jobs/${jobId}/events?last_event_id=-4` },
    { method: 'GET', route: '/api/jobs/{job_id}/events', url: `/api/jobs/${missing}/events` },
    { method: 'GET', route: '/api/history', url: '/api/history?limit=5' },
    { method: 'GET', route: '/api/history', url: '/api/history?limit=0' },
    { method: 'GET', route: '/api/metrics', url: '/api/metrics' },
    { method: 'GET', route: '/metrics', url: '/metrics' },
    { method: 'GET', route: '/api/workflows', url: '/api/workflows' },
    { method: 'GET', route: '/api/models', url: '/api/models' },
    { method: 'GET', route: '/api/jobs/{job_id}/signed-urls', url: `/api/jobs/${jobId}/signed-urls` },
    { method: 'GET', route: '/api/jobs/{job_id}/signed-urls', url: `/api/jobs/${missing}/signed-urls` },
    { method: 'POST', route: '/api/keys', url: '/api/keys', init: json({ owner: 'docs', name: 'documented', scopes: ['read'] }) },
    { method: 'POST', route: '/api/keys', url: '/api/keys', init: json({ owner: 'Not An Owner', name: 'x', scopes: ['read'] }) },
    { method: 'GET', route: '/api/keys', url: '/api/keys' },
    { method: 'DELETE', route: '/api/keys/{key_id}', url: `/api/keys/${missing}` },
    { method: 'POST', route: '/api/upload', url: '/api/upload', init: upload(PNG_1x1) },
    { method: 'POST', route: '/api/upload', url: '/api/upload', init: upload(PNG_1x1, 'picture') },
    { method: 'POST', route: '/api/upload', url: '/api/upload', init: upload(Buffer.concat([PNG_1x1, Buffer.alloc(5000)])) },
    { method: 'POST', route: '/api/upload', url: '/api/upload', init: upload(Buffer.from('GIF89a, not accepted here')) },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: { ...json({ prompt: 'waited for' }), headers: { 'content-type': 'application/json', prefer: 'wait=60' } } },
    { method: 'POST', route: '/api/generate', url: '/api/generate', init: { ...json({ prompt: 'waited too long' }), headers: { 'content-type': 'application/json', prefer: 'wait=61' } } },
    { method: 'GET', route: '/api/jobs/{job_id}/webhooks', url: `/api/jobs/${jobId}/webhooks` },
    { method: 'GET', route: '/api/jobs/{job_id}/webhooks', url: `/api/jobs/${missing}/webhooks` },
    { method: 'GET', route: '/api/webhooks/secrets', url: '/api/webhooks/secrets' },
    { method: 'POST', route: '/api/webhooks/secrets/rotate', url: '/api/webhooks/secrets/rotate', init: json({ overlap_seconds: 60 }) },
    { method: 'POST', route: '/api/webhooks/secrets/rotate', url: '/api/webhooks/secrets/rotate', init: json({ overlap_seconds: -1 }) },
    { method: 'POST', route: '/api/register', url: '/api/register', init: json({ email: 'docs2@example.com', password: 'documented password', name: 'Docs 2' }) },
    { method: 'POST', route: '/api/register', url: '/api/register', init: json(account) },
    { method: 'POST', route: '/api/register', url: '/api/register', init: json({ email: 'not an email', password: 'short', name: '' }) },
    { method: 'POST', route: '/api/login', url: '/api/login', init: json({ email: account.email, password: account.password }) },
    { method: 'POST', route: '/api/login', url: '/api/login', init: json({ email: account.email, password: 'not the password' }) },
    { method: 'POST', route: '/api/login', url: '/api/login', init: json({ email: 'nope' }) },
    { method: 'GET', route: '/api/me', url: '/api/me' },
    { method: 'GET', route: '/api/me', url: '/api/me', init: withCookie() },
    { method: 'GET', route: '/api/me/keys', url: '/api/me/keys', init: withCookie() },
    { method: 'GET', route: '/api/me/keys', url: '/api/me/keys' },
    { method: 'POST', route: '/api/me/keys', url: '/api/me/keys', init: withCookie(json({ name: 'documented', scopes: ['read'] })) },
    { method: 'POST', route: '/api/me/keys', url: '/api/me/keys', init: withCookie(json({ name: 'documented', scopes: ['admin'] })) },
    { method: 'DELETE', route: '/api/me/keys/{key_id}', url: `/api/me/keys/${missing}`, init: withCookie() },
    { method: 'DELETE', route: '/api/me/sessions', url: '/api/me/sessions', init: withCookie() },
    { method: 'DELETE', route: '/api/me/sessions', url: '/api/me/sessions' },
    { method: 'POST', route: '/api/logout', url: '/api/logout' }
  ]

  const ajv = new (Ajv as unknown as typeof Ajv.default)({ strict: false, allErrors: true, validateFormats: false })
  const called = new Set<string>()
  for (const call of calls) {
    const res = await fetch(`${sys.baseUrl}${call.url}`, { method: call.method, ...call.init })
    const label = `${call.method} ${call.url.slice(0, 80)} → ${res.status}`
    const operation = doc.paths[call.route]?.[call.method.toLowerCase()]
    if (!operation) { t.fail(`${call.method} ${call.route} is not in the document`); continue }
    called.add(`${call.method} ${call.route}`)
    const declared = operation.responses[String(res.status)]
    if (!declared) { t.fail(`${label}: status ${res.status} is not declared (declared: ${Object.keys(operation.responses).join(', ')})`); continue }
    if (res.status === 204) { t.equal(await res.text(), '', `${label}: no body`); continue }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]
    const content = declared.content ?? {}
    t.ok(content[type], `${label}: content type ${type} is declared (${Object.keys(content).join(', ')})`)
    if (type === 'application/json') {
      const body = await res.json()
      const validate = ajv.compile(content[type].schema)
      t.ok(validate(body), `${label}: body matches the declared schema`, { errors: validate.errors, body })
    } else if (type === 'image/png') {
      t.same(pngSize(Buffer.from(await res.arrayBuffer())), { width: 832, height: 1216 }, `${label}: the image`)
    } else {
      t.ok((await res.text()).length > 0, `${label}: a ${type} body`)
    }
  }

  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops as object).map(m => `${m.toUpperCase()} ${path}`))
  t.same(documented.filter(op => !called.has(op)), [], 'every documented operation was called')
  for (const [path, ops] of Object.entries(doc.paths) as Array<[string, Record<string, any>]>) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters ?? []).map((p: any) => `${p.in}:${p.name}`)
      const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map(m => `path:${m[1]}`)
      t.ok(pathParams.every(p => params.includes(p)), `${method.toUpperCase()} ${path} declares its path parameters`)
      t.ok(Object.keys(op.responses ?? {}).length > 0, `${method.toUpperCase()} ${path} declares its responses`)
    }
  }
})
