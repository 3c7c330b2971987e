// Who may do what (issue 13): every REST route and every gRPC call of the gateway's JobService ×
// {no key, another owner's key, a key without the scope, a revoked key, the right key} → the answer,
// and not one byte of another owner's job (id, prompt, output) in any answer, SSE and WatchJob included.
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { createJobServiceClient, type JobServiceClient } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { runCli } from './helpers/cli-process.ts'
import { ROUTE_SCOPES } from '../services/gateway/src/auth/route-scopes.ts'
import { png } from './helpers/media-files.ts'

const sys = await TestSystem.start(t, {
  name: 'auth_matrix',
  // a short key cache, so a key revoked behind the gateway's back (the CLI) is refused soon
  gatewayEnv: { AUTH: 'required', AUTH_KEY_CACHE_MS: '300' }
})
const base = sys.baseUrl

// The first key is made on the database by the CLI (no key exists yet to ask the API with).
const made = await runCli(['keys', 'create', '--owner', 'root', '--scopes', 'admin', '--name', 'bootstrap', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
if (made.code !== 0) throw new Error(`keys create failed: ${made.stderr}`)
const ADMIN: string = JSON.parse(made.stdout).secret

async function createKey (owner: string, scopes: string[]): Promise<{ id: string, secret: string }> {
  const res = await fetch(`${base}/api/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ owner, name: `${owner} ${scopes.join('+')}`, scopes })
  })
  const body = await res.json() as any
  if (res.status !== 201) throw new Error(`key not created: ${res.status} ${JSON.stringify(body)}`)
  return { id: body.key.id, secret: body.secret }
}

const alice = await createKey('alice', ['submit', 'read', 'cancel'])
const bob = await createKey('bob', ['submit', 'read', 'cancel'])
const aliceWithout: Record<string, { id: string, secret: string }> = {
  submit: await createKey('alice', ['read', 'cancel']),
  read: await createKey('alice', ['submit', 'cancel']),
  cancel: await createKey('alice', ['submit', 'read']),
  admin: alice
}
const revoked = await createKey('alice', ['submit', 'read', 'cancel', 'admin'])

/** An API key as `Authorization`, or a session (`cj_session=…`, the accounts' cookie) as `Cookie`. */
const json = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const auth = (key?: string): Record<string, string> => key === undefined ? {} : key.startsWith('cj_session=') ? { cookie: key } : { authorization: `Bearer ${key}` }

// Revoked behind the gateway's back (CLI on the database): refused once the key cache forgets it.
const beforeRevoke = (await fetch(`${base}/api/history`, { headers: auth(revoked.secret) })).status
const revoke = await runCli(['keys', 'revoke', revoked.id], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
if (revoke.code !== 0) throw new Error(`keys revoke failed: ${revoke.stderr}`)
for (let i = 0; ; i++) {
  const status = (await fetch(`${base}/api/history`, { headers: auth(revoked.secret) })).status
  if (status === 401) break
  if (i > 600) throw new Error('a revoked key was still accepted after a minute')
  await new Promise(resolve => setTimeout(resolve, 100))
}

// Alice's finished job (with an output), then the worker stops, so her next job stays queued to be cancelled.
const SECRET_PROMPT = 'alices-secret-prompt-7f3a'
async function submit (key: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(`${base}/api/generate`, { method: 'POST', headers: { ...auth(key), 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}
const done = await submit(alice.secret, { prompt: SECRET_PROMPT, seed: 1 }, { 'idempotency-key': 'shared-key-1' })
if (done.status !== 200) throw new Error(`alice's submit: ${JSON.stringify(done.body)}`)
const A: string = done.body.job_id
for (let i = 0; ; i++) {
  const s = await fetch(`${base}/api/status/${A}`, { headers: auth(alice.secret) }).then(r => r.json()) as any
  if (s.status === 'finished') break
  if (i > 1200) throw new Error(`alice's job never finished: ${JSON.stringify(s)}`)
  await new Promise(resolve => setTimeout(resolve, 100))
}
await sys.workers[0].kill('SIGKILL')
const C: string = (await submit(alice.secret, { prompt: `${SECRET_PROMPT} again`, seed: 2 })).body.job_id
const OUTPUT = `/outputs/${A}.png`
const aliceBytes = Buffer.from(await (await fetch(`${base}${OUTPUT}`, { headers: auth(alice.secret) })).arrayBuffer())

t.test('keys made by the CLI, revoked by the CLI', async t => {
  t.match(ADMIN, /^cj_live_[A-Za-z0-9_-]{43}$/, 'a high-entropy secret with a recognisable prefix')
  t.equal(beforeRevoke, 200, 'a key works before it is revoked')
  t.match(revoke.stdout, /revoked /)
  t.equal((await fetch(`${base}/api/history`, { headers: auth(revoked.secret) })).status, 401, 'and not after (within AUTH_KEY_CACHE_MS)')
  t.ok(aliceBytes.length > 100, 'alice reads her output')
  const listed = await runCli(['keys', 'list', '--owner', 'alice', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
  const keys = JSON.parse(listed.stdout).keys
  t.equal(keys.length, 5, 'alice has five keys')
  t.notOk(listed.stdout.includes(alice.secret.slice(12)), 'a listing never shows a secret')
  const [row] = await sys.db.pool.query('SELECT secret_hash FROM api_keys WHERE id = ?', [alice.id]) as any
  t.match(row[0].secret_hash, /^[0-9a-f]{64}$/, 'only a hash of the secret is stored')
  t.not(row[0].secret_hash, alice.secret)
})

t.test('a logged-in user is an owner with AUTH=required: a session, and the keys the user makes', async t => {
  const submitted = await http('POST', '/api/generate', aliceUser, json({ prompt: 'the user\'s own prompt', seed: 9 }))
  t.equal(submitted.status, 200, 'a session submits')
  const U: string = JSON.parse(submitted.text).job_id
  const me = JSON.parse((await http('GET', '/api/me', aliceUser)).text)
  const [rows] = await sys.db.pool.query('SELECT owner FROM jobs WHERE id = ?', [U]) as any
  t.equal(rows[0].owner, `user:${me.user.id}`, 'owned by the user')
  t.equal((await http('GET', `/api/status/${U}`, aliceUser)).status, 200, 'and reads it')
  t.equal((await http('GET', `/api/status/${A}`, aliceUser)).status, 404, 'the key-owner alice\'s job is not the user alice\'s')
  t.equal((await http('GET', `/api/status/${U}`, bobUser)).status, 404, 'another user\'s session: unknown')
  t.equal((await http('GET', `/api/status/${U}`, alice.secret)).status, 404, 'another owner\'s key: unknown')
  t.equal((await http('POST', `/api/cancel/${U}`, bobUser)).status, 404, 'another user cannot cancel it')
  const history = JSON.parse((await http('GET', '/api/history', aliceUser)).text)
  t.same(history.jobs.map((j: any) => j.id), [U], 'the user\'s history is the user\'s jobs')
  const key = JSON.parse((await http('POST', '/api/me/keys', aliceUser, json({ name: 'script', scopes: ['read', 'cancel'] }))).text)
  t.equal((await http('GET', `/api/status/${U}`, key.secret)).status, 200, 'a key the user made reads the user\'s jobs')
  t.equal((await http('POST', '/api/generate', key.secret, json({ prompt: 'x', seed: 1 }))).status, 403, 'with the scopes it was given only')
  t.equal((await http('POST', '/api/me/keys', key.secret, json({ name: 'escalate', scopes: ['submit'] }))).status, 401, 'a key cannot make keys (a session can)')
  t.equal((await http('GET', '/api/keys', aliceUser)).status, 403, 'a user is no admin')
  t.equal((await http('POST', `/api/cancel/${U}`, aliceUser)).status, 200, 'the user cancels it')
})

/**
 * Every answer to anyone but alice (and admin); searched for alice's things at the end. `sent`: what the
 * request itself named (a job id in its path), which an error may echo without telling anything.
 */
const foreignAnswers: Array<{ text: string, sent: string[] }> = []
const ALICE_MARKS = [A, C, SECRET_PROMPT]

type Case = 'none' | 'other' | 'noscope' | 'revoked' | 'right'
const CASES: Case[] = ['none', 'other', 'noscope', 'revoked', 'right']

interface Row {
  route: string
  scope: string
  request: (key: string | undefined) => Promise<{ status: number, text: string }>
  /** expected status for each case */
  expect: Record<Case, number>
  sent?: string[]
}

// Users (accounts): register and log in over the API, open with AUTH=required too.
async function userSession (email: string, password: string): Promise<string> {
  const registered = await fetch(`${base}/api/register`, { method: 'POST', ...json({ email, password, name: email.split('@')[0] }) })
  if (registered.status !== 201) throw new Error(`register ${email}: ${registered.status} ${await registered.text()}`)
  const login = await fetch(`${base}/api/login`, { method: 'POST', ...json({ email, password }) })
  if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${await login.text()}`)
  return login.headers.getSetCookie().find(c => c.startsWith('cj_session='))!.split(';')[0]
}
const aliceUser = await userSession('alice@example.com', 'alice user password')
const bobUser = await userSession('bob@example.com', 'bob user password')
/** a session that was logged out */
const loggedOut = await userSession('gone@example.com', 'gone user password')
await fetch(`${base}/api/logout`, { method: 'POST', headers: { cookie: loggedOut } })
/** a key of alice-the-user's, made with her session, for the row that revokes one */
const aliceUserKey = await fetch(`${base}/api/me/keys`, { method: 'POST', headers: { cookie: aliceUser, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'to revoke', scopes: ['read'] }) }).then(r => r.json()) as any
let registered = 0

/**
 * Who calls in each case. A `session` route (a user's own keys and sessions) takes a session cookie and
 * nothing else: no credentials, an API key (even alice's: `noscope`) or a logged-out session are 401.
 */
function keyOf (c: Case, scope: string): string | undefined {
  if (scope === 'session') return c === 'none' ? undefined : c === 'other' ? bobUser : c === 'noscope' ? alice.secret : c === 'revoked' ? loggedOut : aliceUser
  if (c === 'none') return undefined
  if (c === 'other') return bob.secret
  if (c === 'noscope') return scope === 'open' ? alice.secret : aliceWithout[scope].secret
  if (c === 'revoked') return revoked.secret
  return scope === 'admin' ? ADMIN : alice.secret
}

async function http (method: string, path: string, key: string | undefined, init: RequestInit = {}): Promise<{ status: number, text: string }> {
  const res = await fetch(`${base}${path}`, { method, ...init, headers: { ...auth(key), ...init.headers as Record<string, string> } })
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    // read the stream to its end: a finished job's stream closes after its terminal frame
    return { status: res.status, text: await res.text() }
  }
  const bytes = Buffer.from(await res.arrayBuffer())
  return { status: res.status, text: bytes.toString('latin1') }
}

const upload = (): RequestInit => {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(png(8, 8))], { type: 'image/png' }), 'tiny.png')
  return { body: form }
}

const ROWS: Row[] = [
  { route: 'POST /api/generate', scope: 'submit', request: k => http('POST', '/api/generate', k, json({ prompt: 'a cat', seed: 3 })), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'POST /api/upload', scope: 'submit', request: k => http('POST', '/api/upload', k, upload()), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/status/:job_id', sent: [A], scope: 'read', request: k => http('GET', `/api/status/${A}`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/jobs/:job_id', sent: [A], scope: 'read', request: k => http('GET', `/api/jobs/${A}`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/jobs/:job_id/events', sent: [A], scope: 'read', request: k => http('GET', `/api/jobs/${A}/events`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/jobs/:job_id/signed-urls', sent: [A], scope: 'read', request: k => http('GET', `/api/jobs/${A}/signed-urls`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/jobs/:job_id/webhooks', sent: [A], scope: 'read', request: k => http('GET', `/api/jobs/${A}/webhooks`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  // the signing secrets are per owner: another owner's key gets its own (checked below), a read-only key none
  { route: 'GET /api/webhooks/secrets', scope: 'submit', request: k => http('GET', '/api/webhooks/secrets', k), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'POST /api/webhooks/secrets/rotate', scope: 'submit', request: k => http('POST', '/api/webhooks/secrets/rotate', k, json({ overlap_seconds: 60 })), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/history', scope: 'read', request: k => http('GET', '/api/history', k), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'POST /api/cancel/:job_id', sent: [C], scope: 'cancel', request: k => http('POST', `/api/cancel/${C}`, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /outputs/*', sent: [A], scope: 'read', request: k => http('GET', OUTPUT, k), expect: { none: 401, other: 404, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/metrics', scope: 'read', request: k => http('GET', '/api/metrics', k), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/workflows', scope: 'read', request: k => http('GET', '/api/workflows', k), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/models', scope: 'read', request: k => http('GET', '/api/models', k), expect: { none: 401, other: 200, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/health', scope: 'admin', request: k => http('GET', '/api/health', k), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /metrics', scope: 'admin', request: k => http('GET', '/metrics', k), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /docs', scope: 'admin', request: k => http('GET', '/docs/json', k), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 200 } },
  { route: 'GET /api/keys', scope: 'admin', request: k => http('GET', '/api/keys', k), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 200 } },
  { route: 'POST /api/keys', scope: 'admin', request: k => http('POST', '/api/keys', k, json({ owner: 'carol', name: 'c', scopes: ['read'] })), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 201 } },
  // revoking a key that does not exist: the scope is checked before anything is looked up
  { route: 'DELETE /api/keys/:key_id', scope: 'admin', request: k => http('DELETE', '/api/keys/00000000-0000-0000-0000-000000000000', k), expect: { none: 401, other: 403, noscope: 403, revoked: 401, right: 404 } },
  { route: 'GET /health', scope: 'open', request: k => http('GET', '/health', k), expect: { none: 200, other: 200, noscope: 200, revoked: 200, right: 200 } },
  // accounts: open to anyone (an API key is not a session: /api/me says nobody is logged in)
  { route: 'GET /api/me', scope: 'open', request: k => http('GET', '/api/me', k), expect: { none: 200, other: 200, noscope: 200, revoked: 200, right: 200 } },
  { route: 'POST /api/register', scope: 'open', request: k => http('POST', '/api/register', k, json({ email: `matrix${++registered}@example.com`, password: 'matrix password', name: 'm' })), expect: { none: 201, other: 201, noscope: 201, revoked: 201, right: 201 } },
  { route: 'POST /api/login', scope: 'open', request: k => http('POST', '/api/login', k, json({ email: 'matrix1@example.com', password: 'matrix password' })), expect: { none: 200, other: 200, noscope: 200, revoked: 200, right: 200 } },
  { route: 'POST /api/logout', scope: 'open', request: k => http('POST', '/api/logout', k), expect: { none: 200, other: 200, noscope: 200, revoked: 200, right: 200 } },
  // a user's own keys and sessions: a session only
  { route: 'GET /api/me/keys', scope: 'session', request: k => http('GET', '/api/me/keys', k), expect: { none: 401, other: 200, noscope: 401, revoked: 401, right: 200 } },
  { route: 'POST /api/me/keys', scope: 'session', request: k => http('POST', '/api/me/keys', k, json({ name: 'matrix', scopes: ['read'] })), expect: { none: 401, other: 201, noscope: 401, revoked: 401, right: 201 } },
  { route: 'DELETE /api/me/keys/:key_id', sent: [aliceUserKey.key.id], scope: 'session', request: k => http('DELETE', `/api/me/keys/${aliceUserKey.key.id}`, k), expect: { none: 401, other: 404, noscope: 401, revoked: 401, right: 200 } },
  // last: it ends bob's session (other) and alice's (right)
  { route: 'DELETE /api/me/sessions', scope: 'session', request: k => http('DELETE', '/api/me/sessions', k), expect: { none: 401, other: 200, noscope: 401, revoked: 401, right: 200 } }
]

t.test('every REST route is in the matrix', async t => {
  const covered = new Set(ROWS.map(r => r.route))
  for (const route of Object.keys(ROUTE_SCOPES)) t.ok(covered.has(route), `${route} has a row`)
})

t.test('REST: every route × every kind of caller', async t => {
  for (const row of ROWS) {
    for (const c of CASES) {
      // the right key cancels last, so every other case sees the job still live
      if (row.route.startsWith('POST /api/cancel') && c === 'right') continue
      const { status, text } = await row.request(keyOf(c, row.scope))
      t.equal(status, row.expect[c], `${row.route} with ${c === 'none' ? 'no key' : c === 'other' ? "another owner's key" : c === 'noscope' ? 'a key without the scope' : c === 'revoked' ? 'a revoked key' : 'the right key'}`)
      if (c !== 'right') foreignAnswers.push({ text, sent: row.sent ?? [] })
      if (row.scope === 'session' && c !== 'other' && c !== 'right') t.match(text, /"code":"SESSION_REQUIRED"/, 'says why')
      else if ((c === 'none' || c === 'revoked') && row.scope !== 'open') t.match(text, /"code":"UNAUTHENTICATED"/, 'says why')
      else if (c === 'noscope' && row.scope !== 'open') t.match(text, /"code":"MISSING_SCOPE"/, 'says why')
    }
  }
  const cancel = await http('POST', `/api/cancel/${C}`, alice.secret)
  t.equal(cancel.status, 200, 'alice cancels her own job')
})

t.test('another owner\'s job answers exactly as an unknown one', async t => {
  const unknown = '01900000-0000-7000-8000-000000000000'
  for (const path of ['/api/status/', '/api/jobs/']) {
    const foreign = await http('GET', `${path}${A}`, bob.secret)
    const missing = await http('GET', `${path}${unknown}`, bob.secret)
    t.equal(foreign.status, missing.status)
    t.equal(foreign.text.replaceAll(A, 'ID'), missing.text.replaceAll(unknown, 'ID'), `${path}: same body but the id`)
  }
  const foreignOut = await http('GET', OUTPUT, bob.secret)
  const missingOut = await http('GET', `/outputs/${unknown}.png`, bob.secret)
  t.equal(foreignOut.text.replaceAll(A, 'ID'), missingOut.text.replaceAll(unknown, 'ID'), 'outputs: same body but the name')
})

t.test('webhook secrets and delivery logs are per owner', async t => {
  const secretsOf = async (key: string) => JSON.parse((await http('GET', '/api/webhooks/secrets', key)).text) as { owner: string, secrets: Array<{ secret: string }> }
  const alices = await secretsOf(alice.secret)
  const bobs = await secretsOf(bob.secret)
  const admins = await secretsOf(ADMIN)
  t.equal(alices.owner, 'alice')
  t.equal(bobs.owner, 'bob')
  t.equal(admins.owner, 'root', 'admin reads its own owner\'s secrets, not everyone\'s')
  const aliceSecrets = new Set(alices.secrets.map(s => s.secret))
  t.ok(aliceSecrets.size > 0, 'alice has secrets')
  t.notOk([...bobs.secrets, ...admins.secrets].some(s => aliceSecrets.has(s.secret)), 'no one else sees alice\'s secrets')
  const rotated = JSON.parse((await http('POST', '/api/webhooks/secrets/rotate', bob.secret, json({ overlap_seconds: 0 }))).text)
  t.equal(rotated.owner, 'bob', 'bob rotates his own secrets')
  t.same(new Set((await secretsOf(alice.secret)).secrets.map(s => s.secret)), aliceSecrets, 'alice\'s are untouched')
  const unknown = '01900000-0000-7000-8000-000000000000'
  const foreign = await http('GET', `/api/jobs/${A}/webhooks`, bob.secret)
  const missing = await http('GET', `/api/jobs/${unknown}/webhooks`, bob.secret)
  t.equal(foreign.status, 404)
  t.equal(foreign.text.replaceAll(A, 'ID'), missing.text.replaceAll(unknown, 'ID'), 'another owner\'s delivery log: same body as an unknown job\'s')
  t.equal((await http('GET', `/api/jobs/${A}/webhooks`, ADMIN)).status, 200, 'admin reads any job\'s delivery log')
  foreignAnswers.push({ text: JSON.stringify(bobs) + JSON.stringify(admins) + JSON.stringify(rotated), sent: [] })
})

t.test('idempotency keys are per owner', async t => {
  const again = await submit(alice.secret, { prompt: SECRET_PROMPT, seed: 1 }, { 'idempotency-key': 'shared-key-1' })
  t.equal(again.body.job_id, A, 'alice replays her job')
  const bobs = await submit(bob.secret, { prompt: 'bob prompt', seed: 1 }, { 'idempotency-key': 'shared-key-1' })
  t.equal(bobs.status, 200)
  t.not(bobs.body.job_id, A, 'bob\'s same key makes his own job')
  foreignAnswers.push({ text: JSON.stringify(bobs.body), sent: [] })
})

t.test('admin sees every owner; history is per owner', async t => {
  const adminHistory = await fetch(`${base}/api/history?limit=100`, { headers: auth(ADMIN) }).then(r => r.json()) as any
  t.ok(adminHistory.jobs.some((j: any) => j.id === A), 'admin sees alice\'s job')
  t.ok(adminHistory.jobs.some((j: any) => j.prompt === 'bob prompt'), 'and bob\'s')
  const aliceHistory = await fetch(`${base}/api/history?limit=100`, { headers: auth(alice.secret) }).then(r => r.json()) as any
  t.ok(aliceHistory.jobs.every((j: any) => j.prompt !== 'bob prompt'), 'alice sees none of bob\'s')
  t.equal(aliceHistory.total, aliceHistory.jobs.length, 'her total counts only hers')
  const bobBefore = await http('GET', `/api/history?before=${A}`, bob.secret)
  t.equal(bobBefore.status, 400, 'another owner\'s job as `before` is an unknown one')
  foreignAnswers.push({ text: bobBefore.text, sent: [A] })
  t.equal((await fetch(`${base}/api/status/${A}`, { headers: auth(ADMIN) })).status, 200, 'admin reads any job')
})

t.test('signed URLs: EventSource and <img> without the key in the URL', async t => {
  const links = await fetch(`${base}/api/jobs/${A}/signed-urls`, { headers: auth(alice.secret) }).then(r => r.json()) as any
  t.notOk(JSON.stringify(links).includes(alice.secret), 'no key in a URL')
  t.match(links.events, new RegExp(`^/api/jobs/${A}/events\\?exp=\\d+&sig=`))
  const img = await fetch(`${base}${links.outputs[0]}`)
  t.equal(img.status, 200)
  t.same(Buffer.from(await img.arrayBuffer()), aliceBytes, 'the output\'s bytes')
  const events = await fetch(`${base}${links.events}`, { headers: { accept: 'text/event-stream' } })
  t.equal(events.status, 200)
  t.match(await events.text(), /event: snapshot[\s\S]*"status":"finished"/)
  // another first character (replacing it with a fixed one left 1 signature in 64 unchanged)
  const forged = links.outputs[0].replace(/sig=(.)(.*)$/, (_: string, first: string, rest: string) => `sig=${first === 'A' ? 'B' : 'A'}${rest}`)
  t.equal((await fetch(`${base}${forged}`)).status, 401, 'a forged signature is refused')
  const otherPath = links.events.replace(A, C)
  t.equal((await fetch(`${base}${otherPath}`)).status, 401, 'a signature opens only the path it signed')
  const expired = links.outputs[0].replace(/exp=\d+/, 'exp=1000')
  t.equal((await fetch(`${base}${expired}`)).status, 401, 'an expired one is refused')
})

// ---- gRPC: every call of JobService ----

const client: JobServiceClient = createJobServiceClient(sys.grpcAddress)
t.teardown(() => client.close())

function metadata (key: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata()
  if (key !== undefined) md.set('authorization', `Bearer ${key}`)
  return md
}

/** An error's metadata as text, without `date`: two answers sent either side of a second's turn differ only in it. */
function metadataText (md: grpc.Metadata): string {
  return JSON.stringify(Object.fromEntries(Object.entries(md.getMap()).filter(([name]) => name !== 'date')))
}

function unary (method: 'Submit' | 'GetStatus' | 'CancelJob' | 'ListJobs', request: unknown, key: string | undefined): Promise<{ code: number, text: string }> {
  return new Promise(resolve => {
    const fn = (client as any)[method] as (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void
    fn.call(client, request, metadata(key), { deadline: Date.now() + 30_000 }, (err, res) => {
      resolve(err ? { code: err.code, text: `${err.details} ${metadataText(err.metadata)}` } : { code: grpc.status.OK, text: JSON.stringify(res) })
    })
  })
}

function watch (jobId: string, key: string | undefined): Promise<{ code: number, text: string }> {
  return new Promise(resolve => {
    const call = (client.WatchJob as any)({ job_id: jobId }, metadata(key), { deadline: Date.now() + 30_000 }) as grpc.ClientReadableStream<unknown>
    const messages: unknown[] = []
    call.on('data', (m: unknown) => messages.push(m))
    call.on('error', () => {})
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, text: `${s.details} ${JSON.stringify(messages)}` }))
  })
}

const { OK, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND } = grpc.status
const D = '01900000-0000-7000-8000-00000000000d'

interface RpcRow { rpc: string, scope: string, sent: string[], call: (key: string | undefined) => Promise<{ code: number, text: string }>, expect: Record<Case, number> }

t.test('gRPC: every call × every kind of caller', async t => {
  // a live job of alice's to cancel over gRPC
  const E: string = (await submit(alice.secret, { prompt: `${SECRET_PROMPT} grpc`, seed: 4 })).body.job_id
  ALICE_MARKS.push(E)
  const rows: RpcRow[] = [
    { rpc: 'Submit', scope: 'submit', sent: [], call: k => unary('Submit', { prompt: 'a dog', seed: 5 }, k), expect: { none: UNAUTHENTICATED, other: OK, noscope: PERMISSION_DENIED, revoked: UNAUTHENTICATED, right: OK } },
    { rpc: 'GetStatus', scope: 'read', sent: [A], call: k => unary('GetStatus', { job_id: A }, k), expect: { none: UNAUTHENTICATED, other: NOT_FOUND, noscope: PERMISSION_DENIED, revoked: UNAUTHENTICATED, right: OK } },
    { rpc: 'WatchJob', scope: 'read', sent: [A], call: k => watch(A, k), expect: { none: UNAUTHENTICATED, other: NOT_FOUND, noscope: PERMISSION_DENIED, revoked: UNAUTHENTICATED, right: OK } },
    { rpc: 'ListJobs', scope: 'read', sent: [], call: k => unary('ListJobs', { limit: 100, offset: 0 }, k), expect: { none: UNAUTHENTICATED, other: OK, noscope: PERMISSION_DENIED, revoked: UNAUTHENTICATED, right: OK } },
    { rpc: 'CancelJob', scope: 'cancel', sent: [E], call: k => unary('CancelJob', { job_id: E }, k), expect: { none: UNAUTHENTICATED, other: NOT_FOUND, noscope: PERMISSION_DENIED, revoked: UNAUTHENTICATED, right: OK } }
  ]
  for (const row of rows) {
    for (const c of CASES) {
      const { code, text } = await row.call(keyOf(c, row.scope))
      t.equal(code, row.expect[c], `${row.rpc} with ${c}: ${grpc.status[code]}`)
      if (c !== 'right') foreignAnswers.push({ text, sent: row.sent })
      if (c === 'right' && row.rpc === 'ListJobs') t.ok(text.includes(A), 'alice lists her job')
      if (c === 'right' && row.rpc === 'WatchJob') t.match(text, /JOB_STATUS_FINISHED/, 'alice watches her job to its end')
    }
  }
  const unknown = await unary('GetStatus', { job_id: D }, bob.secret)
  const foreign = await unary('GetStatus', { job_id: A }, bob.secret)
  t.equal(foreign.text.replaceAll(A, 'ID'), unknown.text.replaceAll(D, 'ID'), 'GetStatus: another owner\'s job is an unknown one')
  const unknownWatch = await watch(D, bob.secret)
  const foreignWatch = await watch(A, bob.secret)
  t.equal(foreignWatch.text.replaceAll(A, 'ID'), unknownWatch.text.replaceAll(D, 'ID'), 'WatchJob: the same')
})

t.test('0 leaks: no answer to anyone but alice (or admin) carries her ids, prompt or bytes', async t => {
  t.ok(foreignAnswers.length > 90, `${foreignAnswers.length} answers checked`)
  const probe = aliceBytes.subarray(aliceBytes.length - 64).toString('latin1')
  let leaks = 0
  for (const { text: answer, sent } of foreignAnswers) {
    const text = sent.reduce((rest, id) => rest.replaceAll(id, '<the id asked about>'), answer)
    for (const mark of [...ALICE_MARKS, probe]) {
      if (text.includes(mark)) {
        leaks++
        t.fail(`leak of ${mark.slice(0, 40)} in: ${text.slice(0, 300)}`)
      }
    }
  }
  t.equal(leaks, 0)
})
