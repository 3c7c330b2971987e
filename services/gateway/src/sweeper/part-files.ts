import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger as Logger } from 'fastify'

/** Temporary files of the upload and output stores: `.{something}.part`, renamed into place when complete. */
const PART_FILE = /^\..*\.part$/

/**
 * Removes the temporary files a killed gateway left half-written. A file still being written by a
 * live gateway (several may share a folder) is touched by every chunk, so only files untouched for
 * longer than `maxAgeMs` go: no transfer stalls that long and lives.
 */
export class PartFileSweeper {
  readonly #dirs: string[]
  readonly #maxAgeMs: number
  readonly #log: Logger
  #timer: NodeJS.Timeout | null = null

  constructor (dirs: string[], maxAgeMs: number, log: Logger) {
    this.#dirs = [...new Set(dirs)]
    this.#maxAgeMs = maxAgeMs
    this.#log = log
  }

  /** Sweeps now, then every `everyMs`. */
  start (everyMs: number): Promise<number> {
    this.#timer ??= setInterval(() => { void this.sweep() }, everyMs).unref()
    return this.sweep()
  }

  stop (): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
  }

  /** Returns how many files it removed. */
  async sweep (): Promise<number> {
    let removed = 0
    const before = Date.now() - this.#maxAgeMs
    for (const dir of this.#dirs) {
      const names = await readdir(dir).catch(() => [] as string[])
      for (const name of names.filter(n => PART_FILE.test(n))) {
        const path = join(dir, name)
        const info = await stat(path).catch(() => null)
        if (!info?.isFile() || info.mtimeMs >= before) continue
        await rm(path, { force: true })
        removed++
        this.#log.warn({ file: path, modified: new Date(info.mtimeMs).toISOString() }, 'abandoned temporary file removed (a gateway died while writing it)')
      }
    }
    return removed
  }
}
