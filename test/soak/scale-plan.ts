import { blankImage, encodePng } from '@comfy-jobs/media'

/**
 * What the scale run's workers can run, by index: each workflow of the mix on at least two of the
 * first four, so one taken away and one killed never leave a workflow without a capable worker; the
 * fifth (added during the run) runs every workflow. null: every workflow its engine runs. The
 * built-in engine has no per-worker list of models, so the capabilities differ by workflow.
 */
export const WORKER_WORKFLOWS: Array<string[] | null> = [
  ['text_to_image', 'upscale'],
  ['text_to_image', 'text_to_video'],
  ['upscale', 'text_to_video'],
  ['text_to_image'],
  null
]

export function workflowsOf (i: number): string[] | null {
  return WORKER_WORKFLOWS[i] ?? null
}

/** A worker's environment for its capabilities (WORKER_WORKFLOWS unset: all of them). */
export function capabilityEnv (i: number): Record<string, string> {
  const workflows = workflowsOf(i)
  return workflows === null ? {} : { WORKER_WORKFLOWS: workflows.join(',') }
}

/** Whether a worker started with this environment runs the workflow. */
export function runsWorkflow (env: Record<string, string>, workflow: string): boolean {
  const listed = env.WORKER_WORKFLOWS
  return listed === undefined || listed.split(',').map(w => w.trim()).includes(workflow)
}

/** The job mix, in a repeating order: half images, a quarter upscales of an uploaded picture, a quarter videos. */
const MIX = ['text_to_image', 'upscale', 'text_to_image', 'text_to_video'] as const

export const promptOf = (i: number): string => `scale ${i}`

/** Submit i's body; `picture` is the upload the upscales take. */
export function jobBody (i: number, picture: string): { prompt: string } & Record<string, unknown> {
  const workflow = MIX[i % MIX.length]
  const body = { prompt: promptOf(i), workflow, seed: i, model: i % 2 === 0 ? 'turbo_fp8' : 'z_image_turbo' }
  return workflow === 'upscale' ? { ...body, inputs: { input: picture } } : body
}

/** The picture the upscales take: 96 × 96, a gradient. */
export function picturePng (): Buffer {
  const image = blankImage(96, 96)
  for (let i = 0; i < image.pixels.length; i += 3) {
    const p = i / 3
    image.pixels[i] = p % 96 * 2
    image.pixels[i + 1] = Math.floor(p / 96) * 2
    image.pixels[i + 2] = 128
  }
  return encodePng(image)
}

export const WORKFLOWS_IN_MIX = [...new Set(MIX)]
