import fp from 'fastify-plugin'
import fastifyRedis from '@fastify/redis'

/**
 * The gateway's Redis connection. No offline queue and one retry per command: a call made while
 * Redis is away fails at once instead of waiting for a reconnect; the client reconnects by itself.
 */
export default fp(async (app) => {
  const { redisUrl, redisCommandTimeoutMs } = app.config
  await app.register(fastifyRedis, {
    url: redisUrl,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: redisCommandTimeoutMs,
    connectTimeout: 1000,
    retryStrategy: (times: number) => Math.min(100 * times, 1000)
  })
  const log = app.log.child({ component: 'redis' })
  let lastLogged = 0
  app.redis.on('error', (err: Error) => {
    if (Date.now() - lastLogged > 5000) {
      lastLogged = Date.now()
      log.warn({ err: err.message }, 'Redis connection error')
    }
  })
  app.redis.on('ready', () => log.info('Redis connection ready'))
}, { name: 'redis', dependencies: ['config'] })
