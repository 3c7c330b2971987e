import { OUTPUT_CONTENT_TYPES, type OutputKind } from '@comfy-jobs/contracts'
import { isHeaderProblem, readImageHeader } from '@comfy-jobs/media'
import type { EngineOutput } from '../engine.ts'
import type { ComfyHttpClient, ComfyImageRef, HistoryEntry, NodeOutput } from './comfy-http.ts'
import { ComfyJobError, executionError } from './comfy-errors.ts'

/** A file an output node listed, with what it is. */
interface MediaRef extends ComfyImageRef {
  kind: OutputKind
  /** from the extension; '' when it is not one we know (the /view answer's type is used then) */
  mime: string
}

function isFileRef (value: unknown): value is ComfyImageRef {
  return typeof value === 'object' && value !== null && typeof (value as ComfyImageRef).filename === 'string'
}

/**
 * The files one node's UI output lists: `images` (with `animated`: a video or animated image, as
 * SaveVideo, SaveWEBM and SaveAnimatedWEBP report them), `audio` (SaveAudio…), and the lists custom
 * nodes use (`gifs`, `videos`, `video`).
 */
function mediaOf (output: NodeOutput | undefined): MediaRef[] {
  if (output === undefined) return []
  const animated = Array.isArray(output.animated) && output.animated.some(Boolean)
  const refs: MediaRef[] = []
  for (const [key, list] of Object.entries(output)) {
    if (key === 'animated' || !Array.isArray(list)) continue
    for (const item of list) {
      if (!isFileRef(item)) continue
      const ext = item.filename.slice(item.filename.lastIndexOf('.') + 1).toLowerCase()
      const mime = OUTPUT_CONTENT_TYPES[ext] ?? ''
      const still = key === 'images' && !animated && (mime === '' || mime.startsWith('image/'))
      const kind: OutputKind = key === 'audio' ? 'audio' : still ? 'image' : mime.startsWith('audio/') ? 'audio' : 'video'
      refs.push({ filename: item.filename, subfolder: item.subfolder ?? '', type: item.type ?? 'output', kind, mime })
    }
  }
  return refs
}

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

/** The media of the template's output nodes, in node order then list order; `output` files before previews. */
function mediaOfNodes (entry: HistoryEntry, outputNodes: string[]): MediaRef[] {
  const all = outputNodes.flatMap(node => mediaOf(entry.outputs?.[node]))
  const saved = all.filter(ref => ref.type === 'output')
  return saved.length > 0 ? saved : all
}

/**
 * Fetches the run's outputs with /view: images, videos and sounds, each with its content type (an
 * image's size from its header; a video's or sound's size and length are for the worker's probe).
 * Cached runs list the files an earlier run wrote; they are fetched the same way. `outputNodes`
 * null (a raw graph): every node the history lists, in the order of their ids (9 before 10).
 */
export async function fetchOutputs (http: ComfyHttpClient, entry: HistoryEntry, outputNodes: string[] | null): Promise<EngineOutput[]> {
  const nodes = outputNodes ?? Object.keys(entry.outputs ?? {}).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  const refs = mediaOfNodes(entry, nodes)
  if (refs.length === 0) throw new ComfyJobError(`ComfyUI finished without outputs in output node(s) ${nodes.join(', ') || '(none)'}`)
  const outputs: EngineOutput[] = []
  for (const [index, ref] of refs.entries()) {
    const where = `${ref.subfolder ? `${ref.subfolder}/` : ''}${ref.filename} (${ref.type})`
    let answer: { data: Buffer, mime: string }
    try {
      answer = await http.view(ref)
    } catch (err) {
      throw new ComfyJobError(`cannot fetch output ${where} from ComfyUI: ${(err as Error).message}`)
    }
    const mime = ref.mime || answer.mime.split(';')[0].trim()
    if (mime === '') throw new ComfyJobError(`output ${where} from ComfyUI has no content type we know`)
    let width = 0
    let height = 0
    if (mime.startsWith('image/')) {
      const header = readImageHeader(answer.data)
      if (isHeaderProblem(header) || header.mime !== mime) throw new ComfyJobError(`output ${where} from ComfyUI is not a ${mime} image${isHeaderProblem(header) ? `: ${header.message}` : ''}`)
      width = header.width
      height = header.height
    }
    outputs.push({ index, kind: ref.kind, mime, width, height, data: answer.data })
  }
  return outputs
}
