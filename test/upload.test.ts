// POST /api/upload: PNG, JPEG and WebP by their bytes, stored under UPLOAD_DIR by content hash;
// anything else is a clear 4xx that leaves nothing behind (no file, no row, no queue entry).
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestSystem } from './helpers/system.ts'

const MAX = 8192
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(40, 1)])
const JPEG = Buffer.concat([Buffer.from('ffd8ffe000104a46494600', 'hex'), Buffer.alloc(40, 2)])
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([60, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(40, 3)])

function form (bytes: Buffer, field = 'file', filename = 'image.png', type = 'image/png'): FormData {
  const body = new FormData()
  body.append(field, new Blob([new Uint8Array(bytes)], { type }), filename)
  return body
}

t.test('uploads', async t => {
  const uploadDir = await mkdtemp(join(tmpdir(), 'cj-uploads-'))
  t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
  const sys = await TestSystem.start(t, { name: 'upload', workers: 0, gatewayEnv: { UPLOAD_DIR: uploadDir, UPLOAD_MAX_BYTES: String(MAX) } })
  const post = async (body: FormData | string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body, headers })
    return { status: res.status, body: await res.json() as any }
  }

  t.test('PNG, JPEG and WebP are stored by the sha256 of their bytes', async t => {
    for (const [bytes, type, ext] of [[PNG, 'image/png', 'png'], [JPEG, 'image/jpeg', 'jpg'], [WEBP, 'image/webp', 'webp']] as const) {
      // the declared name and type are ignored; the bytes decide
      const res = await post(form(bytes, 'file', 'whatever.bin', 'application/octet-stream'))
      t.equal(res.status, 200, `${type}: 200`)
      const name = `${createHash('sha256').update(bytes).digest('hex')}.${ext}`
      t.same(res.body, { name, size: bytes.length, type })
      t.ok((await readFile(join(uploadDir, name))).equals(bytes), `${type}: the stored file is the upload`)
    }
    const again = await post(form(PNG))
    t.equal(again.status, 200)
    t.equal((await readdir(uploadDir)).length, 3, 'the same image twice is one file')
  })

  t.test('refusals name the problem and leave nothing behind', async t => {
    const before = (await readdir(uploadDir)).sort()
    const cases: Array<[string, () => Promise<{ status: number, body: any }>, number, RegExp]> = [
      ['a text file called .png', () => post(form(Buffer.from('just some text, not an image at all'))), 415, /PNG, JPEG or WebP/],
      ['a GIF', () => post(form(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;'))), 415, /PNG, JPEG or WebP/],
      ['an empty file', () => post(form(Buffer.alloc(0))), 400, /file is empty/],
      ['a PNG one byte over the limit', () => post(form(Buffer.concat([PNG, Buffer.alloc(MAX - PNG.length + 1)]))), 413, /too large/],
      ['the image under another field name', () => post(form(PNG, 'image')), 400, /file is required/],
      ['a JSON body', () => post(JSON.stringify({ file: 'data:image/png;base64,AAAA' }), { 'content-type': 'application/json' }), 415, /Unsupported media type/]
    ]
    for (const [what, send, status, message] of cases) {
      const res = await send()
      t.equal(res.status, status, `${what}: ${status}`)
      t.match(res.body.error + (typeof res.body.details === 'string' ? res.body.details : JSON.stringify(res.body.details ?? '')), message, `${what}: says why`)
    }
    t.same((await readdir(uploadDir)).sort(), before, 'no file and no partial file was left')
    const exactlyMax = await post(form(Buffer.concat([PNG, Buffer.alloc(MAX - PNG.length)])))
    t.equal(exactlyMax.status, 200, 'exactly UPLOAD_MAX_BYTES is allowed')
  })

  t.test('uploads never touch the database or the queue', async t => {
    const [[{ n }]] = await sys.db.pool.query('SELECT COUNT(*) AS n FROM jobs') as any
    t.equal(Number(n), 0, 'no job rows')
    const counts = await sys.queueCounts()
    t.equal(Object.values(counts).reduce((a, b) => a + b, 0), 0, 'no queue entries')
  })
})
