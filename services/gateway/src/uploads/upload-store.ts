import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import { UPLOAD_EXTENSIONS, UPLOAD_NAME_PATTERN, uploadTypeOf, type UploadType } from '@comfy-jobs/contracts'
import { MediaInspector, MediaRefusal, inspectBuffer, type InspectedMedia, type MediaLimits } from './media-inspector.ts'

export interface StoredUpload extends InspectedMedia {
  name: string
}

const UPLOAD_NAME = new RegExp(UPLOAD_NAME_PATTERN)
/** Read from a stored image to check it again: enough for its header (see MediaInspector). */
const RECHECK_BYTES = 256 * 1024

/** The stored name of a checked file: the sha256 of its bytes and its type's extension. */
function storedName (sha256: string, type: UploadType): string {
  return `${sha256}.${UPLOAD_EXTENSIONS[type]}`
}

/**
 * Input files on local disk (UPLOAD_DIR), named by the sha256 of their bytes, so the same file sent
 * twice is one file and a job can reference it by name. Never in the database or queue: workers
 * fetch them from a gateway over the worker link. Every file is checked (MediaInspector) before it
 * is stored; a refused one leaves nothing on disk.
 */
export class UploadStore {
  readonly dir: string
  readonly limits: MediaLimits

  constructor (dir: string, limits: MediaLimits) {
    this.dir = dir
    this.limits = limits
  }

  get maxBytes (): number {
    return this.limits.maxBytes
  }

  async init (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
  }

  /** The path of a stored upload, or null if the name is not one this store gives out. */
  pathOf (name: string): string | null {
    return UPLOAD_NAME.test(name) ? join(this.dir, name) : null
  }

  /**
   * Streams the file to a temporary name while hashing and checking it (a refusal stops the stream
   * at once), then renames it to its content hash. Throws a MediaRefusal; nothing is left on disk.
   * `admit` sees the checked file's name and size before it is put in place (a quota); what it
   * throws is thrown, and nothing is left either.
   */
  async save (file: Readable, admit?: (name: string, size: number) => Promise<void>): Promise<StoredUpload> {
    const tmp = join(this.dir, `.upload-${randomUUID()}.part`)
    const out = createWriteStream(tmp)
    const hash = createHash('sha256')
    const inspector = new MediaInspector(this.limits)
    try {
      for await (const chunk of file as AsyncIterable<Buffer>) {
        inspector.push(chunk)
        hash.update(chunk)
        if (!out.write(chunk)) await once(out, 'drain')
      }
      const media = inspector.finish()
      out.end()
      await once(out, 'finish')
      const name = storedName(hash.digest('hex'), media.type)
      await admit?.(name, media.size)
      await rename(tmp, join(this.dir, name))
      return { name, ...media }
    } catch (err) {
      // The upload has failed already: what the file stream reports while it is torn down (a write it
      // was still holding) must neither replace that answer with a 500 nor leave the .part behind.
      out.on('error', () => {})
      out.destroy()
      file.resume() // drain the rest of the request so the client gets the answer
      // the file is opened asynchronously: removed before the open completes, it would reappear
      if (!out.closed) await new Promise<void>(resolve => out.once('close', () => resolve()))
      await rm(tmp, { force: true })
      throw err
    }
  }

  /** Checks a file held in memory (a decoded data: URL) without storing it; throws a MediaRefusal. */
  check (data: Buffer): StoredUpload {
    const media = inspectBuffer(data, this.limits)
    return { name: storedName(createHash('sha256').update(data).digest('hex'), media.type), ...media }
  }

  /** Stores a file that check() accepted, under the name it gave. */
  async put (name: string, data: Buffer): Promise<void> {
    const path = this.pathOf(name)
    if (path === null) throw new Error(`not an upload name: ${name}`)
    if (await stat(path).then(s => s.isFile(), () => false)) return await this.#touch(path)
    const tmp = join(this.dir, `.upload-${randomUUID()}.part`)
    try {
      await writeFile(tmp, data)
      await rename(tmp, path)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }

  /**
   * A stored upload as a job would use it, checked again against today's limits (an image's header
   * is read again). null when there is no such upload; a MediaRefusal when it breaks a limit.
   */
  async describe (name: string): Promise<StoredUpload | null> {
    const path = this.pathOf(name)
    const type = uploadTypeOf(name)
    if (path === null || type === undefined) return null
    let handle
    try {
      handle = await open(path, 'r')
    } catch {
      return null
    }
    try {
      const { size } = await handle.stat()
      if (size > this.limits.maxBytes) throw new MediaRefusal('too-large', `is larger than ${this.limits.maxBytes} bytes`)
      const head = Buffer.alloc(Math.min(size, RECHECK_BYTES))
      await handle.read(head, 0, head.length, 0)
      const inspector = new MediaInspector({ ...this.limits, maxBytes: Number.MAX_SAFE_INTEGER })
      inspector.push(head)
      const media = inspector.finish() // from the head alone: the type and an image's size are at the start
      if (media.type !== type) throw new MediaRefusal('invalid', `does not hold what its name says (${media.type}, not ${type})`)
      await this.#touch(path)
      return { name, ...media, size }
    } finally {
      await handle.close()
    }
  }

  /** Marks a file as just used: retention (UPLOAD_RETENTION_SECONDS) counts from its last storing or use. */
  async #touch (path: string): Promise<void> {
    const now = new Date()
    await utimes(path, now, now).catch(() => {})
  }

  /** The stored file's bytes, for a worker that runs a job using it; null when there is none. */
  async read (name: string): Promise<{ size: number, stream: ReadStream } | null> {
    const path = this.pathOf(name)
    if (path === null) return null
    const info = await stat(path).catch(() => null)
    if (!info?.isFile()) return null
    return { size: info.size, stream: createReadStream(path) }
  }
}
