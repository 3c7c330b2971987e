import { createHash } from 'node:crypto'
import { outputExtension, type OutputKind } from '@comfy-jobs/contracts'
import { MediaError, probeMedia } from '@comfy-jobs/media'
import type { OutputFile } from '@comfy-jobs/rpc'
import type { EngineOutput } from './engines/engine.ts'

export interface DescribedOutput {
  file: OutputFile
  data: Buffer
}

/**
 * The probe's kind, except that an engine which says an image file is an animation (ComfyUI's history
 * marks animated outputs) is believed when the probe counts one frame or cannot count them.
 */
function animatedByWord (output: EngineOutput, probed: OutputKind): OutputKind {
  return output.kind === 'video' && probed === 'image' ? 'video' : probed
}

/**
 * Names and describes each engine output from its bytes: the probe, not the engine's word, says
 * what the file is (kind, type, size, duration, frames), so every engine's outputs are described
 * alike. The worker-side name carries the type's extension. Bytes that are no known media fail the job.
 */
export async function describeOutputs (jobId: string, outputs: EngineOutput[]): Promise<DescribedOutput[]> {
  const described: DescribedOutput[] = []
  for (const output of outputs) {
    let probe
    try {
      probe = await probeMedia(output.data)
    } catch (err) {
      if (err instanceof MediaError) throw new Error(`output ${output.index} (${output.mime}, ${output.data.length} bytes) is not media this service can serve: ${err.message}`)
      throw err
    }
    described.push({
      data: output.data,
      file: {
        name: `${jobId}_${output.index}.${outputExtension(probe.mime)}`,
        index: output.index,
        kind: animatedByWord(output, probe.kind),
        mime: probe.mime,
        width: probe.width,
        height: probe.height,
        duration_ms: probe.duration_ms ?? 0,
        frames: probe.frames ?? 0,
        bytes: output.data.length,
        sha256: createHash('sha256').update(output.data).digest('hex')
      }
    })
  }
  return described
}
