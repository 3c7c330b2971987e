// I5 under fuzzing: thousands of generated malformed requests against submit, status and cancel get
// 4xx answers, never a 5xx, and leave no row, no queue entry and no status key behind.
import t from 'tap'
import { request } from 'node:http'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { PrivateRedis } from './helpers/private-redis.ts'

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000)
let state = SEED
function rand (): number { // mulberry32: reproducible from the printed seed
  state = (state + 0x6d2b79f5) | 0
  let x = Math.imul(state ^ (state >>> 15), 1 | state)
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1))

const STRINGS = ['', ' ', '\u0000', '\t\n', 'a'.repeat(4001), '💥'.repeat(50), '<script>', "'; DROP TABLE jobs; --", '../../etc/passwd', '%00', '\ud800', 'null', '1:1 ', '16:9\n', 'NaN', '-1']
function randomValue (depth = 0): unknown {
  switch (int(0, depth > 3 ? 5 : 7)) {
    case 0: return pick([0, -1, 1.5, 1e308, -0, 4294967296, Number.MAX_SAFE_INTEGER, -4294967295])
    case 1: return pick(STRINGS)
    case 2: return pick([true, false, null])
    case 3: return Math.random().toString(36).repeat(int(1, 30))
    case 4: return int(-10, 10)
    case 5: return {}
    case 6: return Array.from({ length: int(0, 4) }, () => randomValue(depth + 1))
    default: return Object.fromEntries(Array.from({ length: int(1, 4) }, () => [pick(['prompt', 'seed', 'x', '__proto__', 'constructor', 'workflow', '']), randomValue(depth + 1)]))
  }
}

const VALID = { prompt: 'a red cat', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '1:1', seed: 1, batch_size: 1 }
const BREAKERS: Record<string, unknown[]> = {
  prompt: ['', '   ', 7, null, [], {}, 'x'.repeat(4001), true],
  workflow: ['', 'nope', 3, null, ['text_to_image'], 'text_to_image '.repeat(10)],
  model: ['', 'sd9000', 0, null, {}],
  aspect_ratio: ['4:3', '1:2', '', 1, null, '1:1 ', ['1:1']],
  seed: [-2, 4294967296, 1.5, '1', null, true, 1e100, -1.5],
  batch_size: [0, 5, -1, 2.5, '2', null, 100],
  // text_to_image takes no media and no prompts list, so any of these is refused
  inputs: [[], 'x', 3, { input: 'https://example.com/a.png' }, { 'bad key': 'x' }, { input: [] }, { input: 7 }, { input: `${'ab'.repeat(32)}.png` }],
  images: [[], 'x', { input: 'data:image/png;base64,@@@@' }, { 'a b': 'x' }, { input: 1 }, { shot1: 'data:,' }],
  prompts: ['a', [1], Array(11).fill('a'), ['a segment'], [null]],
  audio: [1, 'https://example.com/a.wav', 'data:audio/wav;base64,AAAA', []]
}

/** One malformed submit: a valid body with one field broken, an unknown field, a wrong shape, or bad bytes. */
function malformedSubmit (): { body: Buffer | string, type: string, headers: Record<string, string> } {
  const headers: Record<string, string> = {}
  if (rand() < 0.1) headers['idempotency-key'] = pick(['', ' ', 'x'.repeat(129), 'a b', '\u00e9t\u00e9'])
  const kind = int(0, 9)
  if (kind <= 3) {
    const field = pick(Object.keys(BREAKERS))
    const body: Record<string, unknown> = { ...VALID, [field]: pick(BREAKERS[field]) }
    if (rand() < 0.3) delete body.prompt
    return { body: JSON.stringify(body), type: 'application/json', headers }
  }
  if (kind === 4) return { body: JSON.stringify({ ...VALID, [pick(['extra', 'priority', '__proto__x', 'callback_url', 'inputs_'])]: randomValue() }), type: 'application/json', headers }
  if (kind === 5) {
    const value = randomValue()
    // an object of random fields could happen to be a valid request: give it one field no request has
    const shaped = value !== null && typeof value === 'object' && !Array.isArray(value) ? { ...value, zz_unknown: randomValue() } : value
    return { body: JSON.stringify(shaped), type: 'application/json', headers: {} }
  }
  if (kind === 6) return { body: JSON.stringify(VALID).slice(0, int(0, 40)), type: 'application/json', headers } // truncated JSON
  if (kind === 7) return { body: Buffer.from(Array.from({ length: int(1, 300) }, () => int(0, 255))), type: pick(['application/json', 'application/octet-stream', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16']), headers }
  if (kind === 8) return { body: '['.repeat(int(100, 5000)) + ']'.repeat(int(0, 10)), type: 'application/json', headers }
  return { body: JSON.stringify({ ...VALID, prompt: 'x'.repeat(int(70_000, 200_000)) }), type: 'application/json', headers } // over the body limit
}

const ID_PATHS = ['fake-job-id', '..', '..%2f..%2fetc%2fpasswd', '%00', '%2e%2e', 'x'.repeat(300), "1'%20OR%20'1'='1", '00000000-0000-0000-0000-000000000000', '%F0%9F%92%A5', '%ZZ', '0'.repeat(36), '01900000-0000-7000-8000-00000000000g']
function malformedId (): string {
  if (rand() < 0.5) return pick(ID_PATHS)
  const raw = String(randomValue())
  const encoded = raw.isWellFormed() ? encodeURIComponent(raw) : '%ED%A0%80' // a lone surrogate as raw bytes
  return encoded.slice(0, int(1, 500)) || 'x'
}

function send (port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

t.test(`fuzz (seed ${SEED})`, async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, { name: 'fuzz', workers: 0, redisUrl: redis.url, gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0' } })
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())

  const tally = { submit: 0, status: 0, cancel: 0 }
  const fiveHundreds: string[] = []
  const non4xx: string[] = []
  const total = Number(process.env.FUZZ_COUNT ?? 2400)
  for (let i = 0; i < total; i++) {
    const target = i % 6 < 4 ? 'submit' : i % 6 === 4 ? 'status' : 'cancel'
    tally[target]++
    let res: { status: number, body: string }
    let what: string
    if (target === 'submit') {
      const m = malformedSubmit()
      what = `POST /api/generate ${m.type} ${String(m.body).slice(0, 80)}`
      res = await send(sys.gatewayPort, 'POST', '/api/generate', m.body, { 'content-type': m.type, ...m.headers }).catch(err => ({ status: 0, body: String(err) }))
    } else {
      const path = target === 'status' ? `/api/status/${malformedId()}` : `/api/cancel/${malformedId()}`
      what = `${target === 'status' ? 'GET' : 'POST'} ${path.slice(0, 100)}`
      res = await send(sys.gatewayPort, target === 'status' ? 'GET' : 'POST', path).catch(err => ({ status: 0, body: String(err) }))
    }
    if (res.status >= 500 || res.status === 0) fiveHundreds.push(`${res.status} ${what} → ${res.body.slice(0, 200)}`)
    else if (res.status < 400) non4xx.push(`${res.status} ${what}`)
  }
  t.comment(`sent ${total}: ${tally.submit} submits, ${tally.status} status reads, ${tally.cancel} cancels`)
  t.ok(total >= 2000, `at least 2,000 malformed requests (${total})`)
  t.same(fiveHundreds.slice(0, 10), [], 'zero 5xx (or dropped connections)')
  t.same(non4xx.slice(0, 10), [], 'every one refused with a 4xx')
  const [rows] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
  t.equal(Number(rows[0].n), 0, 'zero rows')
  const counts = await sys.queueCounts()
  t.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'zero queue entries')
  const [, keys] = await client.scan('0', 'MATCH', 'job:*', 'COUNT', 10000)
  t.same(keys, [], 'zero status keys')
  const health = await (await fetch(`${sys.baseUrl}/api/health`)).json()
  t.equal(health.mysql, 'healthy', 'and the gateway is still healthy')
})
