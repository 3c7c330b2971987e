// Accounts (issue 18 part 4): register, login, logout and /api/me with the original's shapes and codes;
// the session cookie's attributes; sessions in Redis, revoked on logout; login attempts limited per
// email and per address (429 with Retry-After); bad input answered 400 naming the field with nothing
// written; and a logged-in user as an owner: another user's job answers exactly as an unknown one.
// AUTH is off here (loopback): the session wins over the open caller. AUTH=required: auth-matrix.test.ts.
import t from 'tap'
import { createHash } from 'node:crypto'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { countKeys } from './helpers/redis-keys.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

const EMAIL_LIMIT = 3
const IP_LIMIT = 5
const SESSION_TTL = 3600
const sys = await TestSystem.start(t, {
  name: 'accounts',
  workers: 1,
  gatewayEnv: {
    // the test speaks as a proxy: each case names its client address (x-forwarded-for) and scheme
    TRUST_PROXY: '127.0.0.1',
    LOGIN_MAX_ATTEMPTS_PER_EMAIL: String(EMAIL_LIMIT),
    LOGIN_MAX_ATTEMPTS_PER_IP: String(IP_LIMIT),
    LOGIN_WINDOW_SECONDS: '600',
    SESSION_TTL_SECONDS: String(SESSION_TTL),
    REGISTER_RATE_LIMIT_PER_MINUTE: '1000'
  }
})
await sys.waitForWorkersConnected()
const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: 1 })
t.teardown(() => redis.disconnect())

let clients = 0
/** A client address of its own, so that each subtest's login counts are its own. */
const newClient = () => `10.1.0.${++clients}`

interface Answer { status: number, body: any, headers: Headers, cookies: string[] }

async function call (method: string, path: string, opts: { body?: unknown, cookie?: string, ip?: string, https?: boolean, headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'x-forwarded-for': opts.ip ?? '10.0.0.1', ...opts.headers }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (opts.cookie !== undefined) headers.cookie = opts.cookie
  if (opts.https === true) headers['x-forwarded-proto'] = 'https'
  const res = await fetch(`${sys.baseUrl}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const text = await res.text()
  let body: any = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body, headers: res.headers, cookies: res.headers.getSetCookie() }
}

/** `cj_session=<id>` from a login's Set-Cookie, as a browser sends it back. */
function sessionOf (answer: Answer): string {
  const set = answer.cookies.find(c => c.startsWith('cj_session='))
  if (set === undefined) throw new Error(`no session cookie in ${JSON.stringify(answer.cookies)}`)
  return set.split(';')[0]
}

async function register (email: string, name = 'Someone', password = 'a long enough password'): Promise<Answer> {
  return call('POST', '/api/register', { body: { email, password, name }, ip: newClient() })
}

async function login (email: string, password = 'a long enough password', ip = newClient()): Promise<{ answer: Answer, cookie: string }> {
  const answer = await call('POST', '/api/login', { body: { email, password }, ip })
  if (answer.status !== 200) throw new Error(`login of ${email}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return { answer, cookie: sessionOf(answer) }
}

const userRows = async () => (await sys.db.pool.query('SELECT COUNT(*) AS n FROM users') as any)[0][0].n as number
const sessionKeyOf = (cookie: string) => `session:{${sys.queueName}}:${createHash('sha256').update(cookie.split('=')[1]).digest('hex')}`

t.test('register: 201 with the user, the email normalized, the password only as a scrypt hash', async t => {
  const answer = await register('  Mei.Lin@Example.COM ', 'Mei', 'correct horse battery')
  t.equal(answer.status, 201)
  t.match(answer.body, { success: true, user: { email: 'mei.lin@example.com', name: 'Mei', role: 'user' } })
  t.same(Object.keys(answer.body.user).sort(), ['created_at', 'email', 'id', 'name', 'role'], 'the original\'s user fields')
  t.ok(Number.isInteger(answer.body.user.id))
  t.ok(!Number.isNaN(Date.parse(answer.body.user.created_at)), 'created_at is a date')
  t.same(answer.cookies, [], 'registering does not log in (the original page logs in next)')
  const [rows] = await sys.db.pool.query('SELECT email, password_hash FROM users WHERE id = ?', [answer.body.user.id]) as any
  t.equal(rows[0].email, 'mei.lin@example.com')
  t.match(rows[0].password_hash, /^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'salted scrypt, with its parameters')
  t.notOk(rows[0].password_hash.includes('correct horse'), 'not the password')
  const again = await register('mei.lin@example.com', 'Mei', 'another long password')
  const [rows2] = await sys.db.pool.query('SELECT password_hash FROM users WHERE id = ?', [answer.body.user.id]) as any
  t.equal(again.status, 409, 'the same email again: 409')
  t.equal(rows2[0].password_hash, rows[0].password_hash, 'the account is untouched')
  t.equal((await register('MEI.LIN@example.com')).status, 409, 'in any case')
  t.equal(typeof again.body.error, 'string', 'with {error}, which the page shows')
  const a = await register('twin@example.com')
  const b = await register('other-twin@example.com')
  const hashes = await sys.db.pool.query('SELECT password_hash FROM users WHERE email IN (?, ?)', ['twin@example.com', 'other-twin@example.com']) as any
  t.not(hashes[0][0].password_hash, hashes[0][1].password_hash, 'the same password hashes differently (salted)')
})

t.test('bad input: 400 naming the field, nothing written', async t => {
  const before = await userRows()
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['not an email', { email: 'no-at-sign', password: 'long enough pw', name: 'X' }, 'email'],
    ['a space in the email', { email: 'a b@example.com', password: 'long enough pw', name: 'X' }, 'email'],
    ['a short password', { email: 'short@example.com', password: 'short', name: 'X' }, 'password'],
    ['a password too long', { email: 'long@example.com', password: 'x'.repeat(300), name: 'X' }, 'password'],
    ['an empty name', { email: 'noname@example.com', password: 'long enough pw', name: '   ' }, 'name'],
    ['no password', { email: 'nopw@example.com', name: 'X' }, 'password'],
    ['an unknown field', { email: 'extra@example.com', password: 'long enough pw', name: 'X', role: 'admin' }, 'role'],
    ['a number for the email', { email: 42, password: 'long enough pw', name: 'X' }, 'email']
  ]
  for (const [what, body, field] of cases) {
    const answer = await call('POST', '/api/register', { body, ip: newClient() })
    t.equal(answer.status, 400, `register with ${what}: 400`)
    t.ok(answer.body.details?.some((d: any) => d.field === field), `names ${field}: ${answer.body.error}`)
  }
  const both = await call('POST', '/api/register', { body: { email: 'x', password: 'y', name: 'ok' }, ip: newClient() })
  t.same(both.body.details.map((d: any) => d.field).sort(), ['email', 'password'], 'every bad field at once')
  t.equal(await userRows(), before, 'no user written')

  const ip = newClient()
  for (const [what, body, field] of [
    ['not an email', { email: 'nope', password: 'whatever' }, 'email'],
    ['an empty password', { email: 'mei.lin@example.com', password: '' }, 'password'],
    ['an unknown field', { email: 'mei.lin@example.com', password: 'whatever', remember: true }, 'remember']
  ] as Array<[string, Record<string, unknown>, string]>) {
    const answer = await call('POST', '/api/login', { body, ip })
    t.equal(answer.status, 400, `login with ${what}: 400`)
    t.ok(answer.body.details?.some((d: any) => d.field === field), `names ${field}`)
    t.same(answer.cookies, [], 'no cookie')
  }
  t.equal(await countKeys(redis, `login:attempts:{${sys.queueName}}:ip:${ip}`), 0, 'a refused body counts no login attempt')
  t.equal(await countKeys(redis, `session:{${sys.queueName}}:*`), 0, 'and makes no session')
})

t.test('login: the session cookie, /api/me, logout revokes the session', async t => {
  await register('ana@example.com', 'Ana', 'ana password 123')
  const anon = await call('GET', '/api/me')
  t.equal(anon.status, 200, '/api/me without a session: 200')
  t.same(anon.body, { logged_in: false, user: null })

  const wrong = await call('POST', '/api/login', { body: { email: 'ana@example.com', password: 'not her password' }, ip: newClient() })
  t.equal(wrong.status, 401, 'a wrong password: 401')
  t.equal(typeof wrong.body.error, 'string', 'with {error}')
  t.same(wrong.cookies, [], 'and no cookie')
  const unknown = await call('POST', '/api/login', { body: { email: 'nobody@example.com', password: 'not her password' }, ip: newClient() })
  t.equal(unknown.status, 401, 'an unknown email: 401')
  t.same(unknown.body, wrong.body, 'the same answer: which of the two is not told')

  const { answer, cookie } = await login('ANA@example.com ', 'ana password 123')
  t.match(answer.body, { success: true, user: { email: 'ana@example.com', name: 'Ana', role: 'user' } })
  const set = answer.cookies.find(c => c.startsWith('cj_session='))!
  const attributes = set.split(';').slice(1).map(a => a.trim())
  t.same(attributes.sort(), ['HttpOnly', `Max-Age=${SESSION_TTL}`, 'Path=/', 'SameSite=Lax'].sort(), 'HttpOnly, SameSite=Lax, Path=/, no Secure over http')
  t.match(cookie, /^cj_session=[A-Za-z0-9_-]{43}$/, '256 random bits')
  t.equal(answer.headers.get('cache-control'), 'no-store')

  const secure = await call('POST', '/api/login', { body: { email: 'ana@example.com', password: 'ana password 123' }, ip: newClient(), https: true })
  t.ok(secure.cookies.find(c => c.startsWith('cj_session='))!.split(';').map(a => a.trim()).includes('Secure'), 'Secure when the request came over https (a trusted proxy says so)')

  const me = await call('GET', '/api/me', { cookie })
  t.same(me.body, { logged_in: true, user: answer.body.user }, '/api/me names the user')
  const key = sessionKeyOf(cookie)
  const ttl = await redis.ttl(key)
  t.ok(ttl > 0 && ttl <= SESSION_TTL, `the session is in Redis with its TTL (${ttl} s)`)
  t.equal(await countKeys(redis, `*${cookie.split('=')[1]}*`), 0, 'Redis holds only a hash of the session id')
  t.match(JSON.parse((await redis.get(key))!), { userId: answer.body.user.id })

  const out = await call('POST', '/api/logout', { cookie })
  t.equal(out.status, 200)
  t.match(out.body, { success: true, message: String })
  t.match(out.cookies.find(c => c.startsWith('cj_session='))!, /^cj_session=; .*Max-Age=0/, 'the cookie is cleared')
  t.equal(await redis.exists(key), 0, 'the session is deleted from Redis')
  t.same((await call('GET', '/api/me', { cookie })).body, { logged_in: false, user: null }, 'the old cookie is no longer a session')
  t.equal((await call('POST', '/api/logout')).status, 200, 'logging out without a session: 200 too')
})

t.test('login attempts are limited per email and per address: 429 with Retry-After', async t => {
  await register('target@example.com', 'Target', 'target password 1')
  for (let i = 0; i < EMAIL_LIMIT; i++) {
    t.equal((await call('POST', '/api/login', { body: { email: 'target@example.com', password: `guess ${i}` }, ip: newClient() })).status, 401, `guess ${i + 1} from its own address: 401`)
  }
  const limited = await call('POST', '/api/login', { body: { email: 'Target@example.com', password: 'target password 1' }, ip: newClient() })
  t.equal(limited.status, 429, 'past the email\'s limit even the right password is refused')
  const retry = Number(limited.headers.get('retry-after'))
  t.ok(Number.isInteger(retry) && retry > 0 && retry <= 600, `Retry-After: ${retry} s, within the window`)
  t.equal(limited.body.code, 'TOO_MANY_LOGINS')
  t.same(limited.cookies, [], 'no session')

  await register('ip-a@example.com', 'A', 'ip-a password 1')
  const ip = newClient()
  for (let i = 0; i < IP_LIMIT; i++) {
    t.equal((await call('POST', '/api/login', { body: { email: `guess${i}@example.com`, password: 'whatever it is' }, ip })).status, 401)
  }
  const fromIp = await call('POST', '/api/login', { body: { email: 'ip-a@example.com', password: 'ip-a password 1' }, ip })
  t.equal(fromIp.status, 429, 'past the address\'s limit (many emails) it is refused')
  t.ok(Number(fromIp.headers.get('retry-after')) > 0)
  await login('ip-a@example.com', 'ip-a password 1', newClient())
  t.pass('the same user from another address logs in')

  // logins that succeed do not count against an address: a shared office address is not locked out
  const office = newClient()
  for (let i = 0; i < IP_LIMIT + 2; i++) await login('ip-a@example.com', 'ip-a password 1', office)
  t.pass(`${IP_LIMIT + 2} successful logins from one address`)
})

t.test('a user\'s jobs are theirs alone', async t => {
  await register('alice@example.com', 'Alice', 'alice password 1')
  await register('bob@example.com', 'Bob', 'bob password 12')
  const alice = (await login('alice@example.com', 'alice password 1')).cookie
  const bob = (await login('bob@example.com', 'bob password 12')).cookie
  const aliceId = (await call('GET', '/api/me', { cookie: alice })).body.user.id

  const submitted = await call('POST', '/api/generate', { cookie: alice, body: { prompt: 'alice secret prompt 5e1', seed: 7 } })
  t.equal(submitted.status, 200)
  const A: string = submitted.body.job_id
  const [rows] = await sys.db.pool.query('SELECT owner FROM jobs WHERE id = ?', [A]) as any
  t.equal(rows[0].owner, `user:${aliceId}`, 'the job\'s owner is the user')
  for (;;) {
    const s = await call('GET', `/api/status/${A}`, { cookie: alice })
    t.equal(s.status, 200)
    if (s.body.status === 'finished') break
    if (['failed', 'cancelled'].includes(s.body.status)) throw new Error(`alice's job ended ${s.body.status}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const output = (await call('GET', `/api/jobs/${A}`, { cookie: alice })).body.outputs[0].url as string
  t.equal((await call('GET', output, { cookie: alice })).status, 200, 'alice reads her output')
  const aliceHistory = await call('GET', '/api/history', { cookie: alice })
  t.same(aliceHistory.body.jobs.map((j: any) => j.id), [A], 'alice\'s history is her job')

  const unknown = '01900000-0000-7000-8000-000000000000'
  for (const [method, path] of [['GET', '/api/status/'], ['GET', '/api/jobs/'], ['GET', '/api/jobs/:/events'], ['POST', '/api/cancel/']]) {
    const at = (id: string) => path.includes(':') ? path.replace(':', id) : `${path}${id}`
    const foreign = await call(method, at(A), { cookie: bob })
    const missing = await call(method, at(unknown), { cookie: bob })
    t.equal(foreign.status, 404, `${method} ${path} of alice's job as bob: 404`)
    t.equal(JSON.stringify(foreign.body).replaceAll(A, 'ID'), JSON.stringify(missing.body).replaceAll(unknown, 'ID'), 'exactly as an unknown job')
  }
  t.equal((await call('GET', output, { cookie: bob })).status, 404, 'bob cannot read her output')
  const bobHistory = await call('GET', '/api/history', { cookie: bob })
  t.same(bobHistory.body.jobs, [], 'bob\'s history is empty')
  t.equal(bobHistory.body.total, 0)
  t.notOk(JSON.stringify(bobHistory.body).includes('alice secret'), 'nothing of alice\'s')
  t.equal((await call('GET', `/api/status/${A}`, { cookie: alice })).body.status, 'finished', 'bob\'s cancel did nothing')

  // a queued job of alice's that bob tries to cancel and she then cancels
  await sys.workers[0].kill('SIGKILL')
  const C: string = (await call('POST', '/api/generate', { cookie: alice, body: { prompt: 'waits', seed: 8 } })).body.job_id
  t.equal((await call('POST', `/api/cancel/${C}`, { cookie: bob })).status, 404, 'bob cannot cancel her queued job')
  const cancelled = await call('POST', `/api/cancel/${C}`, { cookie: alice })
  t.equal(cancelled.status, 200, 'alice cancels it')
})

t.test('a session cookie keeps the cross-site protections', async t => {
  await register('carol@example.com', 'Carol', 'carol password 1')
  const carol = (await login('carol@example.com', 'carol password 1')).cookie
  const crossSite = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }
  const submit = await call('POST', '/api/generate', { cookie: carol, body: { prompt: 'forged', seed: 1 }, headers: crossSite })
  t.equal(submit.status, 403, 'another site\'s page cannot submit with her cookie')
  t.equal(submit.body.code, 'CROSS_SITE_REFUSED')
  const out = await call('POST', '/api/logout', { cookie: carol, headers: crossSite })
  t.equal(out.status, 403, 'nor log her out')
  const signIn = await call('POST', '/api/login', { body: { email: 'carol@example.com', password: 'carol password 1' }, headers: crossSite, ip: newClient() })
  t.equal(signIn.status, 403, 'nor log her in to the attacker\'s account (login CSRF)')
  t.equal((await call('GET', '/api/me', { cookie: carol })).body.logged_in, true, 'her session is intact')
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs WHERE prompt = ?', ['forged']) as any
  t.equal(rows[0].n, 0, 'no job was made')
})

t.test('a user\'s own API keys, and logging out everywhere', async t => {
  await register('dan@example.com', 'Dan', 'dan password 12')
  await register('eve@example.com', 'Eve', 'eve password 12')
  const dan = (await login('dan@example.com', 'dan password 12')).cookie
  const eve = (await login('eve@example.com', 'eve password 12')).cookie
  const danId = (await call('GET', '/api/me', { cookie: dan })).body.user.id

  const none = await call('POST', '/api/me/keys', { body: { name: 'laptop', scopes: ['read'] } })
  t.equal(none.status, 401, 'without a session: 401')
  t.equal(none.body.code, 'SESSION_REQUIRED')
  const admin = await call('POST', '/api/me/keys', { cookie: dan, body: { name: 'laptop', scopes: ['admin'] } })
  t.equal(admin.status, 400, 'a user cannot make an admin key')
  const made = await call('POST', '/api/me/keys', { cookie: dan, body: { name: 'laptop', scopes: ['submit', 'read'] } })
  t.equal(made.status, 201)
  t.equal(made.body.key.owner, `user:${danId}`, 'the key belongs to the user')
  t.match(made.body.secret, /^cj_live_/)
  t.same((await call('GET', '/api/me/keys', { cookie: dan })).body.keys.map((k: any) => k.id), [made.body.key.id], 'dan lists his key')
  t.same((await call('GET', '/api/me/keys', { cookie: eve })).body.keys, [], 'eve lists none of his')
  const foreign = await call('DELETE', `/api/me/keys/${made.body.key.id}`, { cookie: eve })
  const missing = await call('DELETE', '/api/me/keys/00000000-0000-0000-0000-000000000000', { cookie: eve })
  t.equal(foreign.status, 404, 'eve cannot revoke dan\'s key')
  t.equal(JSON.stringify(foreign.body).replace(made.body.key.id, 'ID'), JSON.stringify(missing.body).replace('00000000-0000-0000-0000-000000000000', 'ID'), 'it is an unknown key to her')
  const [alive] = await sys.db.pool.query('SELECT revoked_at FROM api_keys WHERE id = ?', [made.body.key.id]) as any
  t.equal(alive[0].revoked_at, null, 'still active')
  const revoked = await call('DELETE', `/api/me/keys/${made.body.key.id}`, { cookie: dan })
  t.equal(revoked.status, 200)
  t.ok(revoked.body.key.revoked_at, 'dan revokes it')

  const second = (await login('dan@example.com', 'dan password 12')).cookie
  const all = await call('DELETE', '/api/me/sessions', { cookie: dan })
  t.equal(all.status, 200)
  t.equal(all.body.revoked, 2, 'both of dan\'s sessions')
  t.equal((await call('GET', '/api/me', { cookie: second })).body.logged_in, false, 'the other session is gone too')
  t.equal((await call('GET', '/api/me', { cookie: eve })).body.logged_in, true, 'eve\'s is not')
})

t.test('Redis hung: a session or a login answers 503 within a bound, never the open caller', async t => {
  const own = new PrivateRedis()
  await own.start()
  t.teardown(() => own.stop())
  const hung = await TestSystem.start(t, { name: 'accounts_redis', workers: 0, redisUrl: own.url })
  const at = (path: string, init: RequestInit = {}) => fetch(`${hung.baseUrl}${path}`, init)
  const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.equal((await at('/api/register', json({ email: 'fay@example.com', password: 'fay password 12', name: 'Fay' }))).status, 201)
  const loggedIn = await at('/api/login', json({ email: 'fay@example.com', password: 'fay password 12' }))
  const cookie = loggedIn.headers.getSetCookie()[0].split(';')[0]

  own.freeze()
  try {
    const me = await at('/api/me', { headers: { cookie } })
    t.equal(me.status, 503, 'who is logged in cannot be said: 503')
    t.match(await me.json(), { code: 'SESSIONS_UNAVAILABLE' })
    t.equal(me.headers.get('retry-after'), '1')
    const history = await at('/api/history', { headers: { cookie } })
    t.equal(history.status, 503, 'a session\'s read is refused, not answered as the open caller\'s')
    const login = await at('/api/login', json({ email: 'fay@example.com', password: 'fay password 12' }))
    t.equal(login.status, 503, 'a login cannot be counted or stored: 503')
    t.same(login.headers.getSetCookie(), [], 'and sets no cookie')
    t.equal((await at('/api/me')).status, 200, 'a request without a session does not need Redis for it')
  } finally {
    own.unfreeze()
  }
  for (let i = 0; ; i++) {
    const me = await at('/api/me', { headers: { cookie } })
    if (me.status === 200) {
      t.match(await me.json(), { logged_in: true, user: { email: 'fay@example.com' } }, 'the session is back with Redis')
      break
    }
    if (i > 600) throw new Error(`the session never came back: ${me.status}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
})
