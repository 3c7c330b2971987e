import fp from 'fastify-plugin'
import { GatewayMetrics } from '../metrics/gateway-metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics
  }
}

/** The Prometheus registry and counters; the queue gauges read the queue at scrape time. */
export default fp(async (app) => {
  const metrics = new GatewayMetrics()
  app.decorate('metrics', metrics)
  app.addHook('onReady', async () => {
    metrics.observe({
      queueDepth: () => app.jobQueue.depth(),
      queueConsumers: () => app.jobQueue.consumers(),
      workerStreams: () => app.workers.summary()
    })
  })
}, { name: 'metrics', dependencies: ['config', 'queue'] })
