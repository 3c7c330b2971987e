import { decodeAudio, decodeImage, MediaError, type PcmAudio, type RgbImage } from '@comfy-jobs/media'
import type { ResolvedInput, ResolvedInputs } from '../engine.ts'
import { UnsupportedJobError } from '../unsupported-job-error.ts'

/**
 * A job's media inputs as the renderers want them: decoded, checked for presence and count, each
 * decoded once. Every refusal names the input, since a retry cannot help.
 */
export class JobInputs {
  readonly #workflow: string
  readonly #inputs: ResolvedInputs
  readonly #decoded = new Map<string, Promise<unknown>>()

  constructor (workflow: string, inputs: ResolvedInputs) {
    this.#workflow = workflow
    this.#inputs = inputs
  }

  has (name: string): boolean {
    return this.#inputs[name] !== undefined
  }

  async image (name: string, maxSide: number): Promise<RgbImage> {
    return await this.#decode(name, this.#one(name), maxSide, data => decodeImage(data, { maxSide }))
  }

  async images (name: string, min: number, max: number, maxSide: number): Promise<RgbImage[]> {
    const list = this.#list(name, min, max)
    return await Promise.all(list.map((input, i) => this.#decode(`${name}[${i}]`, input, maxSide, data => decodeImage(data, { maxSide }))))
  }

  async audio (name: string): Promise<PcmAudio> {
    return await this.#decode(name, this.#one(name), 0, data => decodeAudio(data))
  }

  #one (name: string): ResolvedInput {
    const input = this.#inputs[name]
    if (input === undefined) throw new UnsupportedJobError(`workflow ${this.#workflow} needs the input "${name}"`)
    if (Array.isArray(input)) {
      if (input.length !== 1) throw new UnsupportedJobError(`input "${name}" of workflow ${this.#workflow} takes one file, got ${input.length}`)
      return input[0]
    }
    return input
  }

  #list (name: string, min: number, max: number): ResolvedInput[] {
    const input = this.#inputs[name]
    const list = input === undefined ? [] : Array.isArray(input) ? input : [input]
    if (list.length < min || list.length > max) {
      throw new UnsupportedJobError(`input "${name}" of workflow ${this.#workflow} takes ${min} to ${max} files, got ${list.length}`)
    }
    return list
  }

  async #decode<T> (label: string, input: ResolvedInput, variant: number, decode: (data: Buffer) => Promise<T>): Promise<T> {
    const key = `${label}\u0000${variant}`
    let decoded = this.#decoded.get(key) as Promise<T> | undefined
    if (decoded === undefined) {
      decoded = decode(input.data).catch(err => {
        if (err instanceof MediaError) throw new UnsupportedJobError(`input "${label}" (${input.ref.name}): ${err.message}`)
        throw err
      })
      this.#decoded.set(key, decoded)
    }
    return await decoded
  }
}
