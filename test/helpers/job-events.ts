import { Redis } from 'ioredis'
import { eventsStreamKey } from '@comfy-jobs/contracts'

/** A job's event history as the gateway stored it (the Redis stream every watcher reads), oldest first. */
export async function jobEvents (redisUrl: string, jobId: string): Promise<Array<Record<string, string>>> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  try {
    const entries = await redis.xrange(eventsStreamKey(jobId), '-', '+')
    return entries.map(([, kv]) => {
      const fields: Record<string, string> = {}
      for (let i = 0; i < kv.length; i += 2) fields[kv[i]] = kv[i + 1]
      return fields
    })
  } finally {
    redis.disconnect()
  }
}
