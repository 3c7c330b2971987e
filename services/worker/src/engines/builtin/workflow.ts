import type { QueuedJob } from '@comfy-jobs/contracts'
import type { PcmAudio, RgbImage } from '@comfy-jobs/media'
import type { JobInputs } from './job-inputs.ts'

/** Image inputs larger than this (either side) are scaled down first; upscale's output is twice it. */
export const MAX_IMAGE_SIDE = 2048
/** Video frames fit in this square (aspect kept, even sides). */
export const VIDEO_SIDE = 512
export const VIDEO_FPS = 12
/** A video is one or more segments of this many frames (2 s): one per prompt, or per shot. */
export const SEGMENT_FRAMES = 24

export interface PlanContext {
  job: QueuedJob
  inputs: JobInputs
  /** this output's seed (the job's seed plus the batch index) */
  seed: number
}

/** What a renderer says it did, recorded in the job's metadata so a user (or a test) can check it. */
export type Declared = Record<string, unknown>

/** An image made in row bands, so the engine can spread the work over its steps. */
export interface ImagePlan {
  readonly image: RgbImage
  renderRows: (from: number, to: number) => void | Promise<void>
  readonly declared: Declared
}

export interface VideoPlan {
  readonly width: number
  readonly height: number
  readonly fps: number
  readonly frames: number
  /** muxed with the frames; the video then lasts as long as the audio */
  readonly audio?: PcmAudio
  /** The engine encodes each frame before it asks for the next, so a plan may reuse one buffer. */
  renderFrame: (index: number) => RgbImage | Promise<RgbImage>
  readonly declared: Declared
}

export interface ImageWorkflow {
  readonly output: 'image'
  /** what the renderer does, in a word or two (metadata `kind`) */
  readonly kind: string
  plan: (context: PlanContext) => Promise<ImagePlan>
}

export interface VideoWorkflow {
  readonly output: 'video'
  readonly kind: string
  /** Frames per video, known from the queue message alone; 0 when they depend on the inputs' content. */
  framesOf: (job: QueuedJob) => number
  plan: (context: PlanContext) => Promise<VideoPlan>
}

export type Workflow = ImageWorkflow | VideoWorkflow

/** width×height scaled to fit VIDEO_SIDE, both sides even (what 4:2:0 video wants). */
export function videoSize (width: number, height: number): { width: number, height: number } {
  const scale = Math.min(1, VIDEO_SIDE / Math.max(width, height))
  return { width: Math.max(2, Math.round(width * scale / 2) * 2), height: Math.max(2, Math.round(height * scale / 2) * 2) }
}

/** The prompts of a video's segments: the job's `prompts` when it has some, else its prompt. */
export function segmentPrompts (job: QueuedJob): string[] {
  return job.prompts !== undefined && job.prompts.length > 0 ? job.prompts : [job.prompt]
}
