import fp from 'fastify-plugin'
import { GatewayGrpcServer } from '../grpc/server.ts'
import { SubmitRateLimiter } from '../limits/submit-rate.ts'

declare module 'fastify' {
  interface FastifyInstance {
    grpcServer: GatewayGrpcServer
  }
}

const WATCH_IDLE_MS = 5000
const SHUTDOWN_GRACE_MS = 3000

/**
 * The gRPC API for internal services on GATEWAY_GRPC_HOST:GATEWAY_GRPC_PORT. It listens once the app
 * is ready (the event hub subscribed), and closes before the stores it uses.
 */
export default fp(async (app) => {
  const server = new GatewayGrpcServer({
    jobs: app.jobs,
    watch: app.jobWatch,
    callerOf: app.auth.callerOf,
    watchIdleMs: WATCH_IDLE_MS,
    submitRate: new SubmitRateLimiter(app.config.submitRateLimitPerMinute)
  }, app.log.child({ component: 'grpc' }))
  app.decorate('grpcServer', server)
  app.addHook('onReady', async () => { await server.listen(app.config.grpcHost, app.config.grpcPort) })
  app.addHook('onClose', async () => { await server.close(SHUTDOWN_GRACE_MS) })
}, { name: 'grpc-server', dependencies: ['config', 'redis', 'ingest', 'jobs', 'auth'] })
