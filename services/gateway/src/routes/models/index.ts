import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { DEFAULT_WORKFLOW, ModelsResponse } from '@comfy-jobs/contracts'

/** A workflow whose template loads its model as a diffusion model (UNETLoader), not a checkpoint. */
function loadsUnet (files: readonly string[]): boolean {
  return files.some(f => /^(diffusion_models|unet)\//.test(f)) && !files.some(f => f.startsWith('checkpoints/'))
}

/**
 * The models the workers can load now, in the original's shape (the original pages fill their model
 * list from it and send the chosen name back as `model`): the default workflow's models first, so
 * a page's preselected entry is what text to image takes.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/models', {
    schema: { summary: 'Model names a submit may use (the original\'s shape); which workflow takes which: GET /api/workflows', response: { 200: ModelsResponse } }
  }, async () => {
    const { modelsByWorkflow, modelFiles } = app.workers.runnable()
    const workflows = [...modelsByWorkflow.keys()].sort((a, b) => Number(b === DEFAULT_WORKFLOW) - Number(a === DEFAULT_WORKFLOW) || a.localeCompare(b))
    const unet: string[] = []
    const other: string[] = []
    for (const workflow of workflows) {
      const list = loadsUnet(modelFiles.get(workflow) ?? []) ? unet : other
      for (const model of modelsByWorkflow.get(workflow)!) if (!unet.includes(model) && !other.includes(model)) list.push(model)
    }
    return { models: other, unet_models: unet }
  })
}

export default route
