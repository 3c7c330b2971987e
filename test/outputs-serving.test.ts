// GET /outputs/{file} as media players and HTTP caches use it: the content type of its extension,
// Range (206 with exactly the bytes asked for, 416 past the end), a strong ETag from the sha256 the
// gateway recorded (If-None-Match → 304), Last-Modified / If-Modified-Since, immutable caching.
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { TestSystem } from './helpers/system.ts'

const sys = await TestSystem.start(t, { name: 'outputs_serving' })
await sys.waitForWorkersConnected()

const res = await sys.submit({ prompt: 'a ranged request', seed: 9 })
const done = await sys.waitForStatus(res.body.job_id, (s: any) => s.status === 'finished')
const url = `${sys.baseUrl}${done.image_url}`
const whole = Buffer.from(await (await fetch(url)).arrayBuffer())
const sha256 = createHash('sha256').update(whole).digest('hex')
const get = (headers: Record<string, string> = {}, target = url) => fetch(target, { headers })

t.test('the whole file: type, length, ETag from the recorded sha256, cache headers', async t => {
  const r = await get()
  t.equal(r.status, 200)
  t.equal(r.headers.get('content-type'), 'image/png')
  t.equal(r.headers.get('content-length'), String(whole.length))
  t.equal(r.headers.get('accept-ranges'), 'bytes')
  t.equal(r.headers.get('etag'), `"${sha256}"`, 'the ETag is the sha256 of the bytes')
  const [[row]] = await sys.db.pool.query('SELECT sha256 FROM outputs WHERE job_id = ?', [done.job_id]) as any
  t.equal(row.sha256, sha256, '… as the database recorded it')
  t.match(r.headers.get('cache-control'), /immutable/)
  t.ok(Date.parse(r.headers.get('last-modified')!) > 0, 'Last-Modified')
})

t.test('Range: 206 with exactly the bytes asked for', async t => {
  const ranges: Array<[string, number, number]> = [
    ['bytes=0-0', 0, 0],
    ['bytes=100-1099', 100, 1099],
    [`bytes=${whole.length - 10}-`, whole.length - 10, whole.length - 1],
    ['bytes=-25', whole.length - 25, whole.length - 1],
    [`bytes=50-${whole.length + 5000}`, 50, whole.length - 1]
  ]
  for (const [range, start, end] of ranges) {
    const r = await get({ range })
    t.equal(r.status, 206, `${range}: 206`)
    t.equal(r.headers.get('content-range'), `bytes ${start}-${end}/${whole.length}`, `${range}: Content-Range`)
    const body = Buffer.from(await r.arrayBuffer())
    t.equal(Number(r.headers.get('content-length')), end - start + 1, `${range}: Content-Length`)
    t.ok(body.equals(whole.subarray(start, end + 1)), `${range}: exactly bytes ${start}..${end}`)
  }
})

t.test('an unsatisfiable Range is 416; one we do not serve is the whole file', async t => {
  const past = await get({ range: `bytes=${whole.length}-` })
  t.equal(past.status, 416, 'starting at the end: 416')
  t.equal(past.headers.get('content-range'), `bytes */${whole.length}`)
  t.equal((await get({ range: 'bytes=-0' })).status, 416, 'an empty suffix: 416')
  const several = await get({ range: 'bytes=0-1,5-6' })
  t.equal(several.status, 200, 'several ranges: the whole file (a server may ignore Range)')
  t.equal(Buffer.from(await several.arrayBuffer()).length, whole.length)
  const stale = await get({ range: 'bytes=0-9', 'if-range': '"another-version"' })
  t.equal(stale.status, 200, 'If-Range for another version: the whole file')
  const current = await get({ range: 'bytes=0-9', 'if-range': `"${sha256}"` })
  t.equal(current.status, 206, 'If-Range for this version: the range')
})

t.test('conditional requests: If-None-Match and If-Modified-Since answer 304', async t => {
  const first = await get()
  const matched = await get({ 'if-none-match': first.headers.get('etag')! })
  t.equal(matched.status, 304)
  t.equal(matched.headers.get('etag'), `"${sha256}"`, 'with the ETag')
  t.equal((await matched.arrayBuffer()).byteLength, 0, 'and no body')
  t.equal((await get({ 'if-none-match': `"x", W/"${sha256}"` })).status, 304, 'a list, weakly compared')
  t.equal((await get({ 'if-none-match': '"something-else"' })).status, 200, 'another tag: the file')
  t.equal((await get({ 'if-modified-since': first.headers.get('last-modified')! })).status, 304, 'not modified since')
  t.equal((await get({ 'if-modified-since': new Date(0).toUTCString() })).status, 200, 'modified since 1970')
})

t.test('other media: the content type of the extension, the ETag of the bytes when there is no row', async t => {
  const fake = Buffer.concat([Buffer.from('1a45dfa3', 'hex'), Buffer.alloc(5000, 7)])
  const name = `${done.job_id.slice(0, 24)}aaaaaaaaaaaa.webm`
  await writeFile(join(sys.outputDir, name), fake)
  const target = `${sys.baseUrl}/outputs/${name}`
  const r = await get({ range: 'bytes=4-13' }, target)
  t.equal(r.status, 206)
  t.equal(r.headers.get('content-type'), 'video/webm')
  t.ok(Buffer.from(await r.arrayBuffer()).equals(fake.subarray(4, 14)))
  t.equal(r.headers.get('etag'), `"${createHash('sha256').update(fake).digest('hex')}"`)
  t.equal((await get({}, `${sys.baseUrl}/outputs/${done.job_id}.exe`)).status, 404, 'an extension no output has: 404')
})
