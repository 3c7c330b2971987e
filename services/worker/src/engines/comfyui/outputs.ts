import type { EngineOutput } from '../engine.ts'
import type { ComfyHttpClient, ComfyImageRef, HistoryEntry } from './comfy-http.ts'
import { ComfyJobError, executionError } from './comfy-errors.ts'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** The job's failure told by a history entry whose status is not success; null for a success. */
export function historyError (entry: HistoryEntry): ComfyJobError | null {
  if (entry.status?.status_str === 'success') return null
  const messages = entry.status?.messages ?? []
  const last = (type: string) => [...messages].reverse().find(([t]) => t === type)
  const error = last('execution_error')
  if (error !== undefined) return executionError(error[1])
  const interrupted = last('execution_interrupted')
  if (interrupted !== undefined) {
    const at = interrupted[1]
    return new ComfyJobError(`ComfyUI interrupted the run at node ${at.node_id} (${at.node_type}); it was not cancelled through comfy-jobs`)
  }
  return new ComfyJobError(`ComfyUI ended the run with status ${JSON.stringify(entry.status?.status_str)} and no error message`)
}

/** The images of the template's output nodes, in node order then batch order; `output` files before previews. */
function imagesOf (entry: HistoryEntry, outputNodes: string[]): ComfyImageRef[] {
  const all = outputNodes.flatMap(node => entry.outputs?.[node]?.images ?? [])
  const saved = all.filter(image => (image.type ?? 'output') === 'output')
  return saved.length > 0 ? saved : all
}

/** Fetches the run's images with /view. Cached runs list the files an earlier run wrote; they are fetched the same way. */
export async function fetchOutputs (http: ComfyHttpClient, entry: HistoryEntry, outputNodes: string[]): Promise<EngineOutput[]> {
  const images = imagesOf(entry, outputNodes)
  if (images.length === 0) throw new ComfyJobError(`ComfyUI finished without images in output node(s) ${outputNodes.join(', ')}`)
  const outputs: EngineOutput[] = []
  for (const [index, image] of images.entries()) {
    let data: Buffer
    try {
      data = (await http.view(image)).data
    } catch (err) {
      throw new ComfyJobError(`cannot fetch output ${image.subfolder ? `${image.subfolder}/` : ''}${image.filename} (${image.type}) from ComfyUI: ${(err as Error).message}`)
    }
    if (data.length < 24 || !data.subarray(0, 8).equals(PNG_SIGNATURE)) {
      throw new ComfyJobError(`output ${image.filename} from ComfyUI is not a PNG`)
    }
    outputs.push({ index, mime: 'image/png', width: data.readUInt32BE(16), height: data.readUInt32BE(20), data })
  }
  return outputs
}
