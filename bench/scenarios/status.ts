import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'
import { Redis } from 'ioredis'
import { statusKey } from '@comfy-jobs/contracts'
import { freePort } from '../../test/helpers/ports.ts'
import type { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'
import { interleave, type VariantSummary } from '../load.ts'
import type { RoundPlan } from './submit.ts'

export type StatusResult = Record<'redisPath' | 'databasePath' | 'httpFloor' | 'hgetall' | 'select', VariantSummary> & { concurrency: number }

async function startHttpFloor (): Promise<{ baseUrl: string, stop: () => void }> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../http-floor.ts', import.meta.url)), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = await once(child.stdout!, 'data')
  if (!String(line).includes('listening')) throw new Error(`HTTP floor did not start: ${line}`)
  return { baseUrl: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

/**
 * GET /api/status/:id answered from Redis (jobs with a status hash) and from the database (the same
 * kind of jobs with the hash deleted), against a constant Fastify route and bare HGETALL / SELECT.
 */
export async function benchStatus (sys: TestSystem, plan: RoundPlan, concurrency: number, jobIds: string[]): Promise<StatusResult> {
  const half = Math.floor(jobIds.length / 2)
  const cached = jobIds.slice(0, half)
  const uncached = jobIds.slice(half)
  const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: 1 })
  await redis.del(...uncached.map(statusKey))
  const pool = mysql.createPool({ ...sys.db.loc, connectionLimit: concurrency })
  const floor = await startHttpFloor()
  const system = new HttpClient(sys.baseUrl, concurrency)
  const bare = new HttpClient(floor.baseUrl, concurrency)
  const pick = (ids: string[], i: number) => ids[i % ids.length]
  const expectSource = (body: any, id: string) => { if (body.job_id !== id) throw new Error(`status of ${id} answered ${JSON.stringify(body)}`) }
  try {
    const r = await interleave({ concurrency, ...plan }, [
      { name: 'redisPath', op: async i => { const id = pick(cached, i); expectSource(await system.get(`/api/status/${id}`), id) } },
      { name: 'databasePath', op: async i => { const id = pick(uncached, i); expectSource(await system.get(`/api/status/${id}`), id) } },
      { name: 'httpFloor', op: async i => { await bare.get(`/api/status/${pick(cached, i)}`) } },
      { name: 'hgetall', op: async i => { await redis.hgetall(statusKey(pick(cached, i))) } },
      { name: 'select', op: async i => { await pool.execute('SELECT * FROM jobs WHERE id = ?', [pick(uncached, i)]) } }
    ])
    // the database path must really have been the database path
    const stillUncached = await redis.exists(...uncached.map(statusKey))
    if (stillUncached !== 0) throw new Error(`${stillUncached} status hashes reappeared during the database-path bench`)
    return { concurrency, ...Object.fromEntries(r) } as StatusResult
  } finally {
    await system.close()
    await bare.close()
    floor.stop()
    await pool.end()
    redis.disconnect()
  }
}
