import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { v7 as uuidv7 } from 'uuid'
import { createPrismaClient, parseDatabaseUrl } from '@comfy-jobs/db'
import type { QueuedJob } from '@comfy-jobs/contracts'
import { JobStore } from '../../services/gateway/src/jobs/job-store.ts'
import { JobQueue } from '../../services/gateway/src/jobs/job-queue.ts'
import { StatusCache } from '../../services/gateway/src/jobs/status-cache.ts'

/**
 * The guide's Test 4 metric: the gateway's own submit steps (insert, push, status init) with and
 * without the interactive transaction, in interleaved rounds so machine noise hits both alike.
 */
export async function measureTransactionOverhead (opts: { databaseUrl: string, redisUrl: string, queueName: string, rounds: number }) {
  const prisma = createPrismaClient(parseDatabaseUrl(opts.databaseUrl), { poolSize: 4 })
  const redis = new Redis(opts.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 1 })
  await redis.ping()
  const queue = new Queue(opts.queueName, { connection: redis })
  const cache = new StatusCache(redis, 600)
  const jobQueue = new JobQueue(queue, redis, cache, 1000)
  const store = new JobStore(prisma)
  const ids: string[] = []
  const job = (): QueuedJob => {
    const id = uuidv7()
    ids.push(id)
    return { job_id: id, workflow: 'text_to_image', model: 'turbo_fp8', prompt: 'overhead', params: { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 } }
  }
  const transactional: number[] = []
  const plain: number[] = []
  try {
    for (let i = 0; i < opts.rounds + 1; i++) {
      const a = job()
      let t0 = performance.now()
      await prisma.$transaction(async tx => {
        await store.insert(tx, a, new Date())
        await jobQueue.push(a, new Date(), 'local')
      })
      const tx = performance.now() - t0
      const b = job()
      t0 = performance.now()
      await store.insert(prisma, b, new Date())
      await jobQueue.push(b, new Date(), 'local')
      const pl = performance.now() - t0
      if (i > 0) { transactional.push(tx); plain.push(pl) } // round 0 warms the pools
    }
  } finally {
    await queue.obliterate({ force: true }).catch(() => {})
    await queue.close()
    if (ids.length) await redis.del(...ids.map(id => `job:status:${id}`))
    redis.disconnect()
    await prisma.job.deleteMany({ where: { id: { in: ids } } })
    await prisma.$disconnect()
  }
  const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length
  return { transactional: avg(transactional), plain: avg(plain), added: avg(transactional) - avg(plain) }
}
