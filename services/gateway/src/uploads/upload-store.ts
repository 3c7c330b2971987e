import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import type { UploadImageType } from '@comfy-jobs/contracts'
import { AppError } from '../app-error.ts'
import { IMAGE_EXTENSIONS, sniffImageType } from './image-type.ts'

export interface StoredUpload {
  name: string
  size: number
  type: UploadImageType
}

const SNIFF_BYTES = 12
const UPLOAD_NAME = /^[0-9a-f]{64}\.(png|jpg|webp)$/

/**
 * Input images on local disk (UPLOAD_DIR), named by the sha256 of their bytes, so the same image
 * uploaded twice is one file and a job can reference it by name. Never in the database or queue.
 */
export class UploadStore {
  readonly dir: string
  readonly maxBytes: number

  constructor (dir: string, maxBytes: number) {
    this.dir = dir
    this.maxBytes = maxBytes
  }

  async init (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
  }

  /** The path of a stored upload, or null if the name is not one this store gives out. */
  pathOf (name: string): string | null {
    return UPLOAD_NAME.test(name) ? join(this.dir, name) : null
  }

  /**
   * Streams the file to a temporary name while hashing it, checks its type by magic bytes as soon as
   * they arrive and its size as it grows, then renames it to its content hash. On any refusal
   * nothing is left on disk.
   */
  async save (file: Readable, field: string): Promise<StoredUpload> {
    const tmp = join(this.dir, `.upload-${randomUUID()}.part`)
    const out = createWriteStream(tmp)
    const hash = createHash('sha256')
    let head = Buffer.alloc(0)
    let type: UploadImageType | null = null
    let size = 0
    try {
      for await (const chunk of file as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > this.maxBytes) throw new AppError('UPLOAD_TOO_LARGE', { details: `${field} is larger than ${this.maxBytes} bytes` })
        if (head.length < SNIFF_BYTES) {
          head = Buffer.concat([head, chunk]).subarray(0, SNIFF_BYTES)
          if (head.length === SNIFF_BYTES && !(type = sniffImageType(head))) throw this.#unsupported(field)
        }
        hash.update(chunk)
        if (!out.write(chunk)) await once(out, 'drain')
      }
      type ??= sniffImageType(head)
      if (size === 0) throw new AppError('VALIDATION', { details: [{ field, message: `${field} is empty` }], extra: { error: `Invalid request: ${field} is empty` } })
      if (!type) throw this.#unsupported(field)
      out.end()
      await once(out, 'finish')
      const name = `${hash.digest('hex')}.${IMAGE_EXTENSIONS[type]}`
      await rename(tmp, join(this.dir, name))
      return { name, size, type }
    } catch (err) {
      out.destroy()
      file.resume() // drain the rest of the request so the client gets the answer
      // the file is opened asynchronously: removed before the open completes, it would reappear
      if (!out.closed) await once(out, 'close')
      await rm(tmp, { force: true })
      throw err
    }
  }

  #unsupported (field: string): AppError {
    return new AppError('UNSUPPORTED_IMAGE_TYPE', { details: `${field}: the content is not a PNG, JPEG or WebP image` })
  }
}
