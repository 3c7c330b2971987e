import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ownerScope } from '../../auth/caller.ts'
import { ErrorBody, HISTORY_MAX_LIMIT, HistoryQuery, HistoryResponse } from '@comfy-jobs/contracts'

const route: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/history', {
    schema: {
      summary: 'Past jobs, newest first',
      description: `Offset pages shift when new jobs arrive; pass the previous page's \`next_before\` as \`before\` for pages that do not. \`limit\` above ${HISTORY_MAX_LIMIT} is capped, as in the original API.`,
      querystring: HistoryQuery,
      response: { 200: HistoryResponse, 400: ErrorBody }
    }
  }, async (request) => app.jobs.history(request.query, ownerScope(request.caller)))
}

export default route
