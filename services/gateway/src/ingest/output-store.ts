import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'

/** Output files on local disk, named as the original served them: {job_id}.png or {job_id}_{i}.png (other media: their extension). */
export class OutputStore {
  readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  async init (): Promise<void> {
    await mkdir(this.dir, { recursive: true })
  }

  pathOf (filename: string): string {
    return join(this.dir, filename)
  }

  /**
   * Writes the chunks to a temporary file, checks size and sha256, then renames it into place, so a
   * reader never sees half a file. Returns the number of bytes.
   */
  async save (filename: string, chunks: AsyncIterable<Buffer>, expected: { bytes: number, sha256: string }): Promise<number> {
    const tmp = join(this.dir, `.${filename}.${randomUUID()}.part`)
    const hash = createHash('sha256')
    let bytes = 0
    const out = createWriteStream(tmp)
    try {
      for await (const chunk of chunks) {
        hash.update(chunk)
        bytes += chunk.length
        if (!out.write(chunk)) await once(out, 'drain')
      }
      out.end()
      await once(out, 'finish')
      const digest = hash.digest('hex')
      if (bytes !== expected.bytes || digest !== expected.sha256) {
        throw new Error(`output ${filename} arrived damaged: ${bytes} bytes sha256 ${digest}, expected ${expected.bytes} bytes ${expected.sha256}`)
      }
      await rename(tmp, this.pathOf(filename))
      return bytes
    } catch (err) {
      out.destroy()
      await rm(tmp, { force: true })
      throw err
    }
  }
}
