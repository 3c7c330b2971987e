// A gateway killed in the middle of an upload leaves its temporary `.part` file; the next gateway
// removes it once it is old enough to belong to no live transfer, and leaves everything else alone.
import t from 'tap'
import { request } from 'node:http'
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { encodePng } from '../packages/media/src/png.ts'
import { TestSystem } from './helpers/system.ts'

// a real PNG's signature and IHDR chunk (64×64): the upload passes the header checks and keeps streaming
const PNG_HEAD = encodePng({ width: 64, height: 64, pixels: Buffer.alloc(64 * 64 * 3) }).subarray(0, 33)

async function until<T> (what: string, probe: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== null) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

t.test('the .part file of an upload cut by a gateway kill is removed by the next gateway', async t => {
  const uploadDir = await mkdtemp(join(tmpdir(), 'cj-parts-'))
  t.teardown(() => rm(uploadDir, { recursive: true, force: true }))
  const sys = await TestSystem.start(t, { name: 'partfiles', workers: 0, gatewayEnv: { UPLOAD_DIR: uploadDir } })

  // an upload that sends its first bytes and then waits: the gateway is writing its .part file
  const boundary = 'cut-by-a-kill'
  const upload = request(`${sys.baseUrl}/api/upload`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
  upload.on('error', () => {}) // the gateway dies under it
  upload.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`)
  upload.write(Buffer.concat([PNG_HEAD, Buffer.alloc(4096, 7)]))
  const [part] = await until('the upload\'s .part file', async () => {
    const parts = (await readdir(uploadDir)).filter(n => n.endsWith('.part'))
    return parts.length > 0 ? parts : null
  })
  await sys.gateway!.kill('SIGKILL')
  upload.destroy()
  t.ok((await readdir(uploadDir)).includes(part), `the kill left ${part} behind`)

  // an hour and more passes; meanwhile another gateway sharing the folder is writing a file of its own
  const old = new Date(Date.now() - 2 * 3600_000)
  await utimes(join(uploadDir, part), old, old)
  const outputPart = `.${'0'.repeat(8)}.png.abc.part`
  await writeFile(join(sys.outputDir, outputPart), 'half an output')
  await utimes(join(sys.outputDir, outputPart), old, old)
  const live = '.upload-being-written.part'
  await writeFile(join(uploadDir, live), 'a transfer in progress')
  const stored = 'f'.repeat(64) + '.png'
  await writeFile(join(uploadDir, stored), 'a finished upload')
  await utimes(join(uploadDir, stored), old, old)

  await sys.startGateway()
  await sys.gateway!.waitForLog(l => l.component === 'part-files' && l.file?.endsWith(part))
  const left = await readdir(uploadDir)
  t.notOk(left.includes(part), 'the abandoned upload .part is removed')
  t.notOk((await readdir(sys.outputDir)).includes(outputPart), 'so is an abandoned output .part')
  t.ok(left.includes(live), 'a .part file written recently is left alone')
  t.ok(left.includes(stored), 'and so is every finished file, however old')
})
