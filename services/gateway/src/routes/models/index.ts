import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ModelsResponse } from '@comfy-jobs/contracts'

/** The models the workers can load now, each with the workflows that take it. */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/models', {
    schema: { summary: 'Models the workers can load, each with the workflows that take it', response: { 200: ModelsResponse } }
  }, async () => {
    const byModel = new Map<string, string[]>()
    for (const [workflow, models] of app.workers.runnable().modelsByWorkflow) {
      for (const model of models) byModel.set(model, [...byModel.get(model) ?? [], workflow])
    }
    const models = [...byModel.entries()]
      .map(([name, workflows]) => ({ name, workflows: workflows.sort() }))
      .sort((a, b) => a.name.localeCompare(b.name))
    return { models }
  })
}

export default route
