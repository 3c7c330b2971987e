// I5: malformed or hostile requests get a 4xx naming the problem and leave nothing behind.
import t from 'tap'
import { Redis } from 'ioredis'
import { TestSystem } from './helpers/system.ts'
import { postWithEarlyAnswer } from './helpers/early-answer.ts'
import { PrivateRedis } from './helpers/private-redis.ts'
import { countKeys } from './helpers/redis-keys.ts'

interface Case { name: string, body: string | Buffer, type?: string, status?: number, field?: RegExp }

const json = (v: unknown) => JSON.stringify(v)
const CASES: Case[] = [
  { name: 'missing prompt', body: json({ workflow: 'text_to_image' }), field: /prompt/ },
  { name: 'empty prompt', body: json({ prompt: '' }), field: /prompt/ },
  { name: 'blank prompt', body: json({ prompt: '   \n\t ' }), field: /prompt/ },
  { name: 'prompt is a number', body: json({ prompt: 123 }), field: /prompt/ },
  { name: 'prompt is null', body: json({ prompt: null }), field: /prompt/ },
  { name: 'prompt is an array', body: json({ prompt: ['a', 'b'] }), field: /prompt/ },
  { name: 'prompt is an object', body: json({ prompt: { text: 'a' } }), field: /prompt/ },
  { name: '10 kB prompt', body: json({ prompt: 'x'.repeat(10_000) }), field: /prompt.*4000/ },
  { name: 'unknown aspect ratio', body: json({ prompt: 'a', aspect_ratio: '4:3' }), field: /aspect_ratio.*1:1/ },
  { name: 'aspect ratio as number', body: json({ prompt: 'a', aspect_ratio: 1 }), field: /aspect_ratio/ },
  { name: 'seed too large', body: json({ prompt: 'a', seed: 4294967296 }), field: /seed.*4294967295/ },
  { name: 'seed negative', body: json({ prompt: 'a', seed: -2 }), field: /seed/ },
  { name: 'seed fractional', body: json({ prompt: 'a', seed: 1.5 }), field: /seed/ },
  { name: 'seed as string', body: json({ prompt: 'a', seed: '12345' }), field: /seed/ },
  { name: 'batch size 0', body: json({ prompt: 'a', batch_size: 0 }), field: /batch_size/ },
  { name: 'batch size 5', body: json({ prompt: 'a', batch_size: 5 }), field: /batch_size/ },
  { name: 'batch size as string', body: json({ prompt: 'a', batch_size: '2' }), field: /batch_size/ },
  { name: 'unknown workflow', body: json({ prompt: 'a', workflow: 'video_magic' }), field: /workflow.*text_to_image/ },
  { name: 'unknown model', body: json({ prompt: 'a', model: 'sd9000' }), field: /model/ },
  { name: 'empty workflow', body: json({ prompt: 'a', workflow: '' }), field: /workflow/ },
  { name: 'unknown field', body: json({ prompt: 'a', priority: 'high' }), field: /priority/ },
  { name: 'body is an array', body: json([{ prompt: 'a' }]) },
  { name: 'body is a string', body: json('a red cat') },
  { name: 'body is null', body: 'null' },
  { name: 'not JSON', body: '{"prompt": "a red cat"', field: /JSON/ },
  { name: 'empty body', body: '' },
  { name: 'form encoded', body: 'prompt=a+red+cat', type: 'application/x-www-form-urlencoded', status: 415 },
  { name: 'plain text', body: 'a red cat', type: 'text/plain', status: 415 },
  { name: 'huge body (2 MB, over GENERATE_BODY_LIMIT_BYTES)', body: json({ prompt: 'a', pad: 'x'.repeat(2 * 1024 * 1024) }), status: 413 },
  // valid UTF-8 and valid JSON, but a string no database can store as sent: refused, never silently replaced
  { name: 'lone high surrogate in prompt', body: '{"prompt":"a red \\ud83d cat"}', field: /prompt contains a lone surrogate \(U\+D83D\)/ },
  { name: 'lone low surrogate in prompt', body: '{"prompt":"\\udc00"}', field: /prompt contains a lone surrogate/ },
  { name: 'lone surrogate in workflow', body: '{"prompt":"a","workflow":"text\\udfff"}', field: /workflow contains a lone surrogate/ },
  { name: 'invalid UTF-8', body: Buffer.concat([Buffer.from('{"prompt":"'), Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from('"}')]), status: 400 }
]

t.test('malformed submits are refused and leave nothing behind', async t => {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const sys = await TestSystem.start(t, { name: 'badinput', workers: 0, redisUrl: redis.url, gatewayEnv: { GENERATE_BODY_LIMIT_BYTES: String(1024 * 1024) } })
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())

  const statusKeys = () => countKeys(client, 'job:status:*')
  const rows = async () => Number(((await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs')) as any)[0][0].n)
  const queued = async () => Object.values(await sys.queueCounts()).reduce((a, b) => a + b, 0)

  t.ok(CASES.length >= 20, `${CASES.length} distinct malformed bodies`)
  for (const c of CASES) {
    const res = await postWithEarlyAnswer(`${sys.baseUrl}/api/generate`, c.body, { 'content-type': c.type ?? 'application/json' })
    const body = res.body as { error?: string, code?: string }
    const expected = c.status ?? 400
    t.equal(res.status, expected, `${c.name} → ${expected}`)
    t.type(body.error, 'string', `${c.name}: says what is wrong (${body.error?.slice(0, 120)})`)
    if (c.field) t.match(body.error, c.field, `${c.name}: names the problem`)
  }

  t.equal(await rows(), 0, 'no row in jobs')
  t.equal(await queued(), 0, 'no queue entry')
  t.equal(await statusKeys(), 0, 'no status key')

  const ok = await sys.submit({ prompt: 'a valid one after all that' })
  t.equal(ok.status, 200, 'a valid submit still works')
  t.equal(await rows(), 1)
  t.equal(await statusKeys(), 1)
})
