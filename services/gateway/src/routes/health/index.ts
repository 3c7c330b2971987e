import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HealthResponse } from '@comfy-jobs/contracts'
import { withDeadline } from '../../deadline.ts'

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
    const [redis, mysql] = await Promise.all([
      probe(() => app.redis.ping()),
      probe(() => app.mysql.query('SELECT 1'))
    ])
    const workers = app.workers.summary()
    // every worker reachable, and none of them unable to run jobs (e.g. its ComfyUI is down: jobs only wait)
    const ok = redis === 'healthy' && mysql === 'healthy' && workers.configured > 0 &&
      workers.connected + workers.standby === workers.configured && workers.list.every(w => w.ready)
    return { status: ok ? 'ok' as const : 'degraded' as const, redis, mysql, workers }
  }
  const schema = { response: { 200: HealthResponse } }
  app.get('/api/health', { schema }, handler)
  app.get('/health', { schema }, handler)
}

export default route
