import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { NodeCatalogue, NodeClass, NodeInput } from '@comfy-jobs/rpc'
import type { ComfyHttpClient } from './comfy-http.ts'

/** Input options that make a combo a loader's file list, to which uploads add files. */
const UPLOAD_FLAGS = ['image_upload', 'audio_upload', 'video_upload', 'upload']

function finite (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** One input spec of /object_info (`[TYPE, opts]`, `[[a, b], opts]` or `["COMBO", {options}]`) as a NodeInput. */
function inputOf (name: string, spec: unknown, required: boolean): NodeInput {
  const [type, opts] = Array.isArray(spec) ? spec : [spec]
  const options = (typeof opts === 'object' && opts !== null ? opts : {}) as Record<string, unknown>
  const combo = Array.isArray(type) ? type : type === 'COMBO' && Array.isArray(options.options) ? options.options : null
  return {
    name,
    required,
    type: combo !== null ? 'COMBO' : typeof type === 'string' ? type : '*',
    options: combo !== null ? combo.filter(o => typeof o === 'string' || typeof o === 'number').map(String) : [],
    min: finite(options.min),
    max: finite(options.max),
    upload: UPLOAD_FLAGS.some(flag => options[flag] === true)
  }
}

/** /object_info reduced to what checking a graph needs: each class's inputs, output types and whether it is an output node. */
export function catalogueOf (objectInfo: Record<string, any>): NodeCatalogue {
  const classes: NodeClass[] = Object.entries(objectInfo).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([name, info]) => ({
    name,
    inputs: [
      ...Object.entries<unknown>(info?.input?.required ?? {}).map(([input, spec]) => inputOf(input, spec, true)),
      ...Object.entries<unknown>(info?.input?.optional ?? {}).map(([input, spec]) => inputOf(input, spec, false))
    ],
    outputs: Array.isArray(info?.output) ? info.output.map((o: unknown) => Array.isArray(o) ? 'COMBO' : String(o)) : [],
    output_node: info?.output_node === true
  }))
  return { digest: createHash('sha256').update(JSON.stringify(classes)).digest('hex'), classes }
}

/**
 * The node classes the ComfyUI offers, read from /object_info when it comes up and with the model
 * lists after that (its combos list model and input files, which change); null until first read.
 */
export class NodeCatalogueReader {
  readonly #http: ComfyHttpClient
  readonly #log: Logger
  catalogue: NodeCatalogue | null = null

  constructor (http: ComfyHttpClient, logger: Logger) {
    this.#http = http
    this.#log = logger.child({ component: 'node-catalogue' })
  }

  /** Throws when ComfyUI cannot be asked (the last catalogue stays). */
  async refresh (): Promise<void> {
    const next = catalogueOf(await this.#http.objectInfo())
    if (next.digest !== this.catalogue?.digest) this.#log.info({ classes: next.classes.length, digest: next.digest }, 'ComfyUI node catalogue read')
    this.catalogue = next
  }
}
