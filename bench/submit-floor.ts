import mysql from 'mysql2/promise'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { v7 as uuidv7 } from 'uuid'
import { statusKey, type QueuedJob } from '@comfy-jobs/contracts'
import type { DatabaseLocation } from '@comfy-jobs/db'
import { JOB_NAME } from '../services/gateway/src/jobs/job-queue.ts'
import { StatusCache } from '../services/gateway/src/jobs/status-cache.ts'

/**
 * The least a submit must do, with no framework in the way: on a bare mysql2 connection
 * BEGIN; INSERT the row; BullMQ add + status HSET/EXPIRE; COMMIT. Its own table (a copy of `jobs`)
 * and its own queue, which nothing consumes.
 */
export class SubmitFloor {
  readonly #pool: mysql.Pool
  readonly #redis: Redis
  readonly #queue: Queue
  readonly #cache: StatusCache
  readonly ids: string[] = []

  private constructor (pool: mysql.Pool, redis: Redis, queue: Queue) {
    this.#pool = pool
    this.#redis = redis
    this.#queue = queue
    this.#cache = new StatusCache(redis, 600)
  }

  /** `loc` is a scratch database; its `jobs` table is created LIKE the system's. */
  static async open (opts: { loc: DatabaseLocation, systemDatabase: string, redisUrl: string, queueName: string, poolSize: number }): Promise<SubmitFloor> {
    const pool = mysql.createPool({ ...opts.loc, connectionLimit: opts.poolSize })
    await pool.query(`CREATE TABLE IF NOT EXISTS jobs LIKE \`${opts.systemDatabase}\`.jobs`)
    const redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1 })
    return new SubmitFloor(pool, redis, new Queue(opts.queueName, { connection: redis }))
  }

  async submit (): Promise<void> {
    const job: QueuedJob = {
      job_id: uuidv7(),
      workflow: 'text_to_image',
      model: 'turbo_fp8',
      prompt: 'bench',
      params: { aspect_ratio: '1:1', width: 1024, height: 1024, seed: 1, batch_size: 1 }
    }
    this.ids.push(job.job_id)
    const createdAt = new Date()
    const conn = await this.#pool.getConnection()
    try {
      await conn.query('BEGIN')
      await conn.execute(
        'INSERT INTO jobs (id, workflow, model, prompt, params, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [job.job_id, job.workflow, job.model, job.prompt, JSON.stringify(job.params), createdAt, createdAt])
      const [, init] = await Promise.all([
        this.#queue.add(JOB_NAME, job, { jobId: job.job_id }),
        this.#cache.addInit(this.#redis.multi(), job, createdAt, 'local').exec()
      ])
      if (!init || init.some(([err]) => err)) throw new Error('status init failed')
      await conn.query('COMMIT')
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      conn.release()
    }
  }

  async close (): Promise<void> {
    await this.#queue.obliterate({ force: true }).catch(() => {})
    await this.#queue.close()
    for (let i = 0; i < this.ids.length; i += 1000) await this.#redis.del(...this.ids.slice(i, i + 1000).map(statusKey))
    this.#redis.disconnect()
    await this.#pool.end()
  }
}
