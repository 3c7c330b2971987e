/** Input files by name (their content hash), least recently used dropped first beyond maxBytes. */
export class InputCache {
  readonly #maxBytes: number
  readonly #files = new Map<string, Buffer>()
  #bytes = 0

  constructor (maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  get (name: string): Buffer | undefined {
    const data = this.#files.get(name)
    if (data !== undefined) {
      this.#files.delete(name) // re-inserted: most recently used last
      this.#files.set(name, data)
    }
    return data
  }

  put (name: string, data: Buffer): void {
    if (data.length > this.#maxBytes || this.#files.has(name)) return
    this.#files.set(name, data)
    this.#bytes += data.length
    for (const [oldest, old] of this.#files) {
      if (this.#bytes <= this.#maxBytes) break
      this.#files.delete(oldest)
      this.#bytes -= old.length
    }
  }
}
