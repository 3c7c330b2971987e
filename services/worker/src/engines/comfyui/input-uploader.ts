import type { Logger } from 'pino'
import type { ResolvedInput, ResolvedInputs } from '../engine.ts'
import { ComfyHttpError, ComfyUnreachableError, type ComfyHttpClient } from './comfy-http.ts'
import { ComfyJobError } from './comfy-errors.ts'
import type { UploadedInputs } from './template-injector.ts'

/**
 * Puts a job's input files into ComfyUI's input folder (POST /upload/image, sounds too) under their
 * content-addressed names, overwriting: a re-run or another job with the same file uploads the same
 * name again, so files do not pile up. Retries while ComfyUI is unreachable, up to giveUpMs.
 */
export async function uploadInputs (http: ComfyHttpClient, inputs: ResolvedInputs, opts: { giveUpMs: number, stop: AbortSignal, log: Logger }): Promise<UploadedInputs> {
  const uploaded: UploadedInputs = {}
  for (const [name, value] of Object.entries(inputs)) {
    const files = Array.isArray(value) ? value : [value]
    uploaded[name] = []
    for (const file of files) uploaded[name].push(await uploadOne(http, name, file, opts))
  }
  if (Object.keys(uploaded).length > 0) opts.log.info({ uploaded }, 'input files uploaded to ComfyUI')
  return uploaded
}

async function uploadOne (http: ComfyHttpClient, input: string, { ref, data }: ResolvedInput, { giveUpMs, stop, log }: { giveUpMs: number, stop: AbortSignal, log: Logger }): Promise<string> {
  const started = Date.now()
  let backoff = 200
  for (;;) {
    stop.throwIfAborted()
    try {
      return await http.uploadInput(ref.name, data, ref.mime)
    } catch (err) {
      if (err instanceof ComfyHttpError) throw new ComfyJobError(`ComfyUI refused input ${input} (${ref.name}): ${err.message}`)
      if (!(err instanceof ComfyUnreachableError)) throw err
      const waited = Date.now() - started
      if (waited >= giveUpMs) throw new ComfyJobError(`cannot upload input ${input} to ComfyUI: ${err.message}; gave up after ${waited} ms of retries`)
      log.warn({ err: err.message, retry_in_ms: backoff }, 'cannot upload an input to ComfyUI; retrying')
      await new Promise(resolve => setTimeout(resolve, backoff))
      backoff = Math.min(backoff * 2, 2000)
    }
  }
}
