import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AUDIO_UPLOAD_TYPES, IMAGE_UPLOAD_TYPES, TEXT_ONLY, WorkflowsResponse } from '@comfy-jobs/contracts'

/**
 * What the workers can run: each workflow with what it takes (prompt, media inputs with the files
 * each accepts and the limits they are checked against) and the models it takes, the first its default:
 * the same lists submits are checked against.
 */
const route: FastifyPluginAsyncTypebox = async (app) => {
  const { limits } = app.uploads
  app.get('/api/workflows', {
    schema: { summary: 'Workflows the workers can run, each with its inputs and the models it takes', response: { 200: WorkflowsResponse } }
  }, async () => {
    const { modelsByWorkflow, declarations, modelFiles, aliases } = app.workers.runnable()
    const workflows = [...modelsByWorkflow.entries()]
      .map(([name, models]) => {
        const declaration = declarations.get(name) ?? TEXT_ONLY
        return {
          name,
          aliases: [...aliases].filter(([, workflow]) => workflow === name).map(([alias]) => alias),
          description: declaration.description,
          models: [...models],
          model_files: [...modelFiles.get(name) ?? []],
          prompt: declaration.prompt,
          max_prompts: declaration.max_prompts,
          inputs: declaration.inputs.map(input => input.kind === 'audio'
            ? { ...input, accepts: Object.keys(AUDIO_UPLOAD_TYPES), max_bytes: limits.maxBytes }
            : { ...input, accepts: Object.keys(IMAGE_UPLOAD_TYPES), max_bytes: limits.maxBytes, max_pixels: limits.maxPixels, max_side: limits.maxSide })
        }
      })
      .sort((a, b) => a.name.localeCompare(b.name))
    return { workflows }
  })
}

export default route
