export const ASPECT_RATIOS = {
  '1:1': { width: 1024, height: 1024 },
  '16:9': { width: 1216, height: 832 },
  '9:16': { width: 832, height: 1216 },
  '2:3': { width: 832, height: 1248 }
} as const
export type AspectRatio = keyof typeof ASPECT_RATIOS

export const DEFAULT_WORKFLOW = 'text_to_image'
export const DEFAULT_MODEL = 'turbo_fp8'
export const DEFAULT_ASPECT_RATIO: AspectRatio = '1:1'
export const MAX_PROMPT_LENGTH = 4000
export const MAX_SEED = 4294967295
export const MAX_BATCH_SIZE = 4

/** What the built-in renderer can run; the gateway's default list of runnable workflows and models. */
export const BUILTIN_WORKFLOWS = ['text_to_image'] as const
export const BUILTIN_MODELS = ['turbo_fp8', 'z_image_turbo'] as const

/** The parameters a job runs with, as stored in `jobs.params` and carried in the queue message. */
export interface JobParams {
  aspect_ratio: AspectRatio
  width: number
  height: number
  /** unsigned 32-bit; a request's -1 is resolved to a random value at submit */
  seed: number
  batch_size: number
}

/** The queue message: what a worker needs to run a job, and nothing bulky. */
export interface QueuedJob {
  job_id: string
  workflow: string
  model: string
  prompt: string
  params: JobParams
}

export function outputUrl (jobId: string, index: number, batchSize: number): string {
  return batchSize > 1 ? `/outputs/${jobId}_${index}.png` : `/outputs/${jobId}.png`
}

/** What each submit field must be, in words, for 400 messages. */
export const FIELD_RULES: Record<string, string> = {
  prompt: `a non-blank string of at most ${MAX_PROMPT_LENGTH} characters`,
  workflow: 'a workflow name the workers can run',
  model: 'a model name the workers have',
  aspect_ratio: `one of ${Object.keys(ASPECT_RATIOS).join(', ')}`,
  seed: `-1 (random) or an integer from 0 to ${MAX_SEED}`,
  batch_size: `an integer from 1 to ${MAX_BATCH_SIZE}`
}
