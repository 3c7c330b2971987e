import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'

/** The sha256 the database recorded for an output file; null when it has no row (yet). */
export type RecordedSha256 = (filename: string) => Promise<string | null>

interface Tag {
  sha256: string
  mtimeMs: number
  size: number
}

const MAX_ENTRIES = 10_000

async function hashFile (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Each output file's sha256, for its ETag: the one recorded with its row (the gateway checked the bytes
 * against it when it stored them), remembered while the file is unchanged; the file's own hash when
 * there is no row (the row commits just after the file is written) or the database cannot be asked.
 */
export class OutputTags {
  readonly #recorded: RecordedSha256
  readonly #tags = new Map<string, Tag>()

  constructor (recorded: RecordedSha256) {
    this.#recorded = recorded
  }

  async sha256 (filename: string, path: string, file: { mtimeMs: number, size: number }): Promise<string> {
    const known = this.#tags.get(filename)
    if (known !== undefined && known.mtimeMs === file.mtimeMs && known.size === file.size) return known.sha256
    const sha256 = await this.#recorded(filename).catch(() => null) ?? await hashFile(path)
    if (this.#tags.size >= MAX_ENTRIES) this.#tags.delete(this.#tags.keys().next().value!)
    this.#tags.set(filename, { sha256, mtimeMs: file.mtimeMs, size: file.size })
    return sha256
  }
}
