import type { Redis } from 'ioredis'
import { UNSTREAMED_STALE_MS, unstreamedWorkersKey, type UnstreamedWorker } from '@comfy-jobs/contracts'

/**
 * The workers of a queue that say no gateway streams them (see the worker's UnstreamedPresence),
 * whichever gateways list them. Entries their worker stopped renewing (it is gone) are dropped.
 */
export async function unstreamedWorkers (redis: Redis, queueName: string): Promise<Array<{ worker_id: string, since: string }>> {
  const key = unstreamedWorkersKey(queueName)
  const entries = Object.entries(await redis.hgetall(key)).map(([id, json]) => ({ id, entry: JSON.parse(json) as UnstreamedWorker }))
  const now = Date.now()
  const stale = entries.filter(e => now - e.entry.seen_at > UNSTREAMED_STALE_MS).map(e => e.id)
  if (stale.length > 0) await redis.hdel(key, ...stale)
  return entries.filter(e => !stale.includes(e.id)).map(({ entry }) => ({ worker_id: entry.worker_id, since: entry.since }))
}
