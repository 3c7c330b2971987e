import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { WorkflowsResponse } from '@comfy-jobs/contracts'

/** What the workers can run: each workflow with the models it takes (the same list submits are checked against). */
const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/workflows', {
    schema: { summary: 'Workflows the workers can run, each with the models it takes', response: { 200: WorkflowsResponse } }
  }, async () => {
    const { modelsByWorkflow } = app.workers.runnable()
    const workflows = [...modelsByWorkflow.entries()]
      .map(([name, models]) => ({ name, models: [...models].sort() }))
      .sort((a, b) => a.name.localeCompare(b.name))
    return { workflows }
  })
}

export default route
