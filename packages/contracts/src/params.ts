import type { JobInputs } from './media.ts'
import { outputExtension } from './media.ts'
import { MAX_PROMPTS } from './workflow-inputs.ts'
import type { ApiGraph } from './comfy-graph.ts'

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
export const BUILTIN_WORKFLOWS = [
  'text_to_image', 'single_image_edit', 'face_swap', 'multi_image_blend', 'sketch_to_image', 'upscale',
  'image_to_video', 'text_to_video', 'first_last_frame_video', 'talking_avatar'
] as const
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
  /** media inputs by declared name, as references to stored uploads (never bytes) */
  inputs?: JobInputs
  /** the video segments' prompts, where the workflow takes them */
  prompts?: string[]
  /** a raw graph (workflow `raw_graph`): ComfyUI runs it as given; bounded by RAW_GRAPH_MAX_BYTES */
  graph?: ApiGraph
  /**
   * Runs the database had counted when this queue entry was made: 0 (absent) for a submit; for the
   * sweeper's re-enqueue of a job the queue lost, its `attempts`, so MAX_ATTEMPTS counts those runs too.
   */
  prior_attempts?: number
}

export function outputUrl (jobId: string, index: number, batchSize: number): string {
  return `/outputs/${outputFilename(jobId, index, batchSize, 'image/png')}`
}

/**
 * An output file's name, as the original named its images: `{job_id}.png`, or `{job_id}_{i}.png`
 * when the job makes several; other media get their own extension (`{job_id}.mp4`).
 */
export function outputFilename (jobId: string, index: number, count: number, mime: string): string {
  return `${jobId}${count > 1 ? `_${index}` : ''}.${outputExtension(mime)}`
}

/** What each submit field must be, in words, for 400 messages. */
export const FIELD_RULES: Record<string, string> = {
  prompt: `a string of at most ${MAX_PROMPT_LENGTH} characters, not blank where the workflow needs a prompt`,
  prompts: `a list of at most ${MAX_PROMPTS} strings of at most ${MAX_PROMPT_LENGTH} characters each`,
  inputs: 'an object of input name → the name POST /api/upload returned or a data: URL (a list of them for an images input)',
  images: 'an object of input name → a data: URL or the name POST /api/upload returned (or null)',
  audio: 'a data: URL or the name POST /api/upload returned',
  workflow: 'a workflow name the workers can run',
  model: 'a model name the workers have',
  aspect_ratio: `one of ${Object.keys(ASPECT_RATIOS).join(', ')}`,
  seed: `-1 (random) or an integer from 0 to ${MAX_SEED}`,
  batch_size: `an integer from 1 to ${MAX_BATCH_SIZE}`,
  workflow_graph: 'a ComfyUI API-format graph: an object of node id → {class_type, inputs}'
}
