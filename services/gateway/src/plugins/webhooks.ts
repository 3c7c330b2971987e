import fp from 'fastify-plugin'
import { WebhookDispatcher } from '../webhooks/webhook-dispatcher.ts'
import { WebhookSecrets } from '../webhooks/webhook-secrets.ts'

declare module 'fastify' {
  interface FastifyInstance {
    webhookSecrets: WebhookSecrets
  }
}

/** Signed webhooks: the owners' secrets, and the dispatcher that delivers the outbox the job store fills. */
export default fp(async (app) => {
  const secrets = new WebhookSecrets(app.prisma)
  const dispatcher = new WebhookDispatcher({
    prisma: app.prisma,
    store: app.jobStore,
    secrets,
    config: app.config.webhooks,
    logger: app.log.child({ component: 'webhooks' })
  })
  app.jobStore.onWebhookQueued = () => dispatcher.wake()
  app.decorate('webhookSecrets', secrets)
  app.addHook('onReady', async () => { dispatcher.start() })
  // before the database closes: attempts in flight record their outcome (each is bounded by WEBHOOK_TIMEOUT_MS)
  app.addHook('preClose', async () => { await dispatcher.close() })
}, { name: 'webhooks', dependencies: ['prisma', 'ingest'] })
