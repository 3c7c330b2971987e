import fp from 'fastify-plugin'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'

const STARTUP_WAIT_MS = 2000

function whenReady (client: Redis, ms: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true)
  return new Promise(resolve => {
    const timer = setTimeout(() => { client.off('ready', onReady); resolve(false) }, ms)
    const onReady = () => { clearTimeout(timer); resolve(true) }
    client.once('ready', onReady)
  })
}

/**
 * The gateway's Redis connection. No offline queue and one retry per command: a call made while
 * Redis is away fails at once instead of waiting for a reconnect; the client reconnects by itself.
 */
export default fp(async (app) => {
  const { redisUrl, redisCommandTimeoutMs } = app.config
  const log = app.log.child({ component: 'redis' })
  const client = new Redis(redisUrl, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: redisCommandTimeoutMs,
    connectTimeout: 1000,
    retryStrategy: (times: number) => Math.min(100 * times, 1000)
  })
  let lastLogged = 0
  client.on('error', (err: Error) => {
    if (Date.now() - lastLogged > 5000) {
      lastLogged = Date.now()
      log.warn({ err: err.message }, 'Redis connection error')
    }
  })
  if (await whenReady(client, STARTUP_WAIT_MS)) {
    await app.register(fastifyRedis, { client, closeClient: true })
  } else {
    // @fastify/redis would hold the boot until Redis answers; start degraded instead and let the
    // client reconnect in the background (health says so, submits fail fast, reads use the database).
    log.warn({ url: redisUrl }, 'Redis unavailable at start; starting degraded')
    app.decorate('redis', client as any)
    app.addHook('onClose', async () => { client.disconnect() })
  }
  client.on('ready', () => log.info('Redis connection ready'))
}, { name: 'redis', dependencies: ['config'] })
