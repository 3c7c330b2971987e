import type { Test } from 'tap'
import { Redis } from 'ioredis'
import { TestSystem } from './system.ts'
import { PrivateRedis } from './private-redis.ts'
import { TcpProxy } from './tcp-proxy.ts'

/** A system whose gateway reaches MariaDB through a proxy the test can cut, on a private Redis; no worker. */
export async function cuttableSystem (t: Test, name: string, gatewayEnv: Record<string, string> = {}) {
  const redis = new PrivateRedis()
  await redis.start()
  t.teardown(() => redis.stop())
  const dbProxy = new TcpProxy(3306)
  await dbProxy.start()
  t.teardown(() => dbProxy.stop())
  const sys = await TestSystem.start(t, { name, workers: 0, redisUrl: redis.url, gateway: false })
  await sys.startGateway({ DATABASE_URL: sys.db.url.replace(':3306/', `:${dbProxy.port}/`), ...gatewayEnv })
  const client = new Redis(redis.url)
  t.teardown(() => client.disconnect())
  return { sys, redis, dbProxy, client }
}
