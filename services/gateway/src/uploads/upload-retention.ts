import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { UPLOAD_NAME_PATTERN } from '@comfy-jobs/contracts'

const UPLOAD_NAME = new RegExp(UPLOAD_NAME_PATTERN)

export interface UploadRetentionOptions {
  dir: string
  /** a file not stored or used for this long, and referenced by no live job, is deleted */
  retentionMs: number
  /** the upload names live (queued, processing) jobs reference */
  liveReferences: () => Promise<Set<string>>
  log: Logger
}

/**
 * Deletes uploads nobody needs: untouched for UPLOAD_RETENTION_SECONDS (a file's time is set when
 * it is stored and each time a submit uses it) and referenced by no live job. Each gateway passes
 * over its own UPLOAD_DIR. A file is looked at again right before it goes, so one a submit has
 * just used stays.
 */
export class UploadRetention {
  readonly #o: UploadRetentionOptions
  #timer: NodeJS.Timeout | null = null
  #running: Promise<number> | null = null

  constructor (options: UploadRetentionOptions) {
    this.#o = options
  }

  start (everyMs: number): void {
    this.#timer ??= setInterval(() => { void this.sweep().catch(err => this.#o.log.warn({ err: (err as Error).message }, 'upload retention pass failed; trying again later')) }, everyMs).unref()
  }

  async stop (): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    await this.#running?.catch(() => {})
  }

  /** One pass; returns how many files it deleted. */
  sweep (): Promise<number> {
    this.#running ??= this.#sweep().finally(() => { this.#running = null })
    return this.#running
  }

  async #sweep (): Promise<number> {
    const { dir, retentionMs, log } = this.#o
    const expired = async (path: string): Promise<boolean> => {
      const info = await stat(path).catch(() => null)
      return info !== null && info.isFile() && info.mtimeMs < Date.now() - retentionMs
    }
    const names = (await readdir(dir).catch(() => [] as string[])).filter(n => UPLOAD_NAME.test(n))
    const old: string[] = []
    for (const name of names) if (await expired(join(dir, name))) old.push(name)
    if (old.length === 0) return 0
    const live = await this.#o.liveReferences()
    let deleted = 0
    for (const name of old) {
      if (live.has(name)) continue
      const path = join(dir, name)
      if (!await expired(path)) continue
      await rm(path, { force: true })
      deleted++
    }
    if (deleted > 0) log.info({ deleted, kept_for_live_jobs: old.filter(n => live.has(n)).length }, 'expired uploads deleted')
    return deleted
  }
}
