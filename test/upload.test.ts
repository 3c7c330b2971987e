// POST /api/upload: PNG, JPEG and WebP images and WAV, MP3, FLAC and Ogg sounds by their bytes,
// stored under UPLOAD_DIR by content hash; anything else (another type, too many bytes, an image
// whose header claims too many pixels) is a clear 4xx that leaves nothing behind (no file, no row,
// no queue entry).
import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestSystem } from './helpers/system.ts'
import { jpegHeader, png, pngHeaderClaiming, wav, webpHeader } from './helpers/media-files.ts'

const MAX = 8192
const PNG = png(8, 4)
const JPEG = jpegHeader(640, 480)
const WEBP = webpHeader(320, 200)
const WAV = wav(100)
const MP3 = Buffer.concat([Buffer.from('ID3'), Buffer.from([4, 0, 0, 0, 0, 0, 0]), Buffer.alloc(40, 5)])
const FLAC = Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(40, 6)])
const OGG = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(40, 7)])

function form (bytes: Buffer, field = 'file', filename = 'image.png', type = 'image/png'): FormData {
  const body = new FormData()
  body.append(field, new Blob([new Uint8Array(bytes)], { type }), filename)
  return body
}

t.test('uploads', async t => {
  const uploadDir = await mkdtemp(join(tmpdir(), 'cj-uploads-'))
  t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
  const sys = await TestSystem.start(t, { name: 'upload', workers: 0, gatewayEnv: { UPLOAD_DIR: uploadDir, UPLOAD_MAX_BYTES: String(MAX), INPUT_MAX_PIXELS: '1000000', INPUT_MAX_SIDE: '4096' } })
  const post = async (body: FormData | string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${sys.baseUrl}/api/upload`, { method: 'POST', body, headers })
    return { status: res.status, body: await res.json() as any }
  }

  t.test('images and sounds are stored by the sha256 of their bytes', async t => {
    const cases = [
      [PNG, 'image/png', 'png', { width: 8, height: 4 }],
      [JPEG, 'image/jpeg', 'jpg', { width: 640, height: 480 }],
      [WEBP, 'image/webp', 'webp', { width: 320, height: 200 }],
      [WAV, 'audio/wav', 'wav', {}],
      [MP3, 'audio/mpeg', 'mp3', {}],
      [FLAC, 'audio/flac', 'flac', {}],
      [OGG, 'audio/ogg', 'ogg', {}]
    ] as const
    for (const [bytes, type, ext, size] of cases) {
      // the declared name and type are ignored; the bytes decide
      const res = await post(form(bytes, 'file', 'whatever.bin', 'application/octet-stream'))
      t.equal(res.status, 200, `${type}: 200`)
      const name = `${createHash('sha256').update(bytes).digest('hex')}.${ext}`
      const kind = type.startsWith('audio/') ? 'audio' : 'image'
      t.same(res.body, { name, size: bytes.length, type, kind, ...size, filename: name, original_name: 'whatever.bin' })
      t.ok((await readFile(join(uploadDir, name))).equals(bytes), `${type}: the stored file is the upload`)
    }
    const again = await post(form(PNG))
    t.equal(again.status, 200)
    t.equal((await readdir(uploadDir)).length, cases.length, 'the same image twice is one file')
  })

  t.test('refusals name the problem and leave nothing behind', async t => {
    const before = (await readdir(uploadDir)).sort()
    const cases: Array<[string, () => Promise<{ status: number, body: any }>, number, RegExp]> = [
      ['a text file called .png', () => post(form(Buffer.from('just some text, not an image at all'))), 415, /PNG, JPEG or WebP/],
      ['a GIF', () => post(form(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;'))), 415, /PNG, JPEG or WebP/],
      ['a PNG header claiming 100000×100000 pixels', () => post(form(pngHeaderClaiming(100000, 100000))), 400, /file is an image of 100000×100000 pixels; at most 1000000 pixels/],
      ['a JPEG 5000 pixels wide', () => post(form(jpegHeader(5000, 10))), 400, /file is an image of 5000×10 pixels.*4096 per side/],
      ['a PNG cut off inside its header', () => post(form(PNG.subarray(0, 20))), 400, /file is not a readable image: the PNG header is cut short/],
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
