import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HealthResponse } from '@comfy-jobs/contracts'
import { withDeadline } from '../../deadline.ts'
import { unstreamedWorkers } from '../../ingest/unstreamed-workers.ts'

const PROBE_MS = 1000

const route: FastifyPluginAsyncTypebox = async (app) => {
  async function probe (check: () => Promise<unknown>): Promise<'healthy' | 'unavailable'> {
    try {
      await withDeadline(check(), PROBE_MS, 'health probe')
      return 'healthy'
    } catch {
      return 'unavailable'
    }
  }

  const handler = async () => {
    const [redis, mysql, unstreamed] = await Promise.all([
      probe(() => app.redis.ping()),
      probe(() => app.mysql.query('SELECT 1')),
      withDeadline(unstreamedWorkers(app.redis, app.config.queueName), PROBE_MS, 'unstreamed workers').catch(() => [])
    ])
    const workers = { ...app.workers.summary(), unstreamed }
    // every worker reachable, none of them unable to run jobs (e.g. its ComfyUI is down: jobs only wait),
    // and no worker on the queue that no gateway streams
    const ok = redis === 'healthy' && mysql === 'healthy' && workers.configured > 0 &&
      workers.connected + workers.standby === workers.configured && workers.list.every(w => w.ready) && unstreamed.length === 0
    return { status: ok ? 'ok' as const : 'degraded' as const, redis, mysql, workers }
  }
  const schema = { response: { 200: HealthResponse } }
  app.get('/api/health', { schema }, handler)
  if (!app.auth.required) {
    app.get('/health', { schema }, handler)
    return
  }
  // with API keys required, /api/health (it names the workers) is admin's; /health says only alive or not
  app.get('/health', {
    schema: { summary: 'Liveness: ok or degraded, nothing more', response: { 200: Type.Object({ status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]) }) } }
  }, async () => ({ status: (await handler()).status }))
}

export default route
