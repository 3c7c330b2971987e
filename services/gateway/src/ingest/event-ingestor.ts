import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobEvent } from '@comfy-jobs/rpc'
import type { JobParams } from '@comfy-jobs/contracts'
import type { JobStore, NewOutput } from '../jobs/job-store.ts'
import type { StatusCache } from '../jobs/status-cache.ts'
import type { JobEventLog } from '../jobs/job-event-log.ts'
import { outputsView } from '../jobs/status-view.ts'
import type { OutputStore } from './output-store.ts'
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts'

/** What the ingestor needs from the link an event came through. */
export interface EventSource {
  fetchOutput: (jobId: string, name: string) => AsyncIterable<Buffer>
  cancel: (jobId: string, reason: string) => Promise<string>
}

export interface EventIngestorDeps {
  store: JobStore
  cache: StatusCache
  outputs: OutputStore
  events: JobEventLog
  logger: Logger
  metrics: GatewayMetrics
  progressDbIntervalMs: number
}

/**
 * Makes one worker event durable: the database for transitions (at once) and progress (at a bounded
 * rate), the Redis status hash for everything. Safe to apply the same event twice.
 */
export class EventIngestor {
  readonly #d: EventIngestorDeps
  readonly #lastProgressWrite = new Map<string, number>()

  constructor (deps: EventIngestorDeps) {
    this.#d = deps
  }

  async apply (event: JobEvent, source: EventSource): Promise<void> {
    await this.#apply(event, source)
    this.#d.metrics.eventDurable(event.kind, event.at_ms)
  }

  async #apply (event: JobEvent, source: EventSource): Promise<void> {
    const log = this.#d.logger.child({ job_id: event.job_id, worker_id: event.worker_id, seq: event.seq })
    const at = new Date(event.at_ms || Date.now())
    switch (event.kind) {
      case 'STARTED': return this.#started(event, at, source, log)
      case 'PROGRESS': return this.#progress(event)
      case 'FINISHED': return this.#finished(event, at, source, log)
      case 'FAILED':
      case 'CANCELLED': return this.#ended(event, at, log)
      default: log.warn({ kind: event.kind }, 'unknown event kind ignored')
    }
  }

  async #started (event: JobEvent, at: Date, source: EventSource, log: Logger): Promise<void> {
    const live = await this.#d.store.markStarted(event.job_id, at, event.attempt || 1, event.worker_id, event.total_steps || null)
    if (live) {
      // A cancel may land between markStarted and here: then the cache is terminal, and a processing
      // event after the cancelled one would leave watchers waiting.
      const applied = await this.#d.cache.apply(event.job_id, {
        job_id: event.job_id,
        status: 'processing',
        progress: 0,
        step: 0,
        total_steps: event.total_steps,
        node: event.node,
        error: '',
        started_at: at.toISOString()
      }, 'state')
      if (applied) await this.#d.events.append(event.job_id, {
        type: 'processing', status: 'processing', progress: 0, step: 0, total_steps: event.total_steps, attempt: event.attempt, at: at.toISOString()
      })
      log.info({ attempt: event.attempt }, 'job started on worker')
      return
    }
    const row = await this.#d.store.find(event.job_id)
    const reason = row ? `job is already ${row.status}` : 'job has no database row'
    log.warn({ reason }, 'worker started a job that must not run; cancelling it')
    await source.cancel(event.job_id, reason).catch((err: Error) => log.warn({ err: err.message }, 'cancel on worker failed'))
  }

  async #progress (event: JobEvent): Promise<void> {
    const live = await this.#d.cache.apply(event.job_id, {
      progress: event.progress,
      step: event.step,
      total_steps: event.total_steps,
      node: event.node
    }, 'progress')
    if (live) {
      await this.#d.events.append(event.job_id, {
        type: 'progress', status: 'processing', progress: event.progress, step: event.step, total_steps: event.total_steps, node: event.node, at: new Date(event.at_ms).toISOString()
      })
    }
    const now = Date.now()
    const last = this.#lastProgressWrite.get(event.job_id) ?? 0
    if (now - last >= this.#d.progressDbIntervalMs) {
      this.#lastProgressWrite.set(event.job_id, now)
      await this.#d.store.saveProgress(event.job_id, event.progress, event.step || null, event.total_steps || null)
    }
  }

  async #finished (event: JobEvent, at: Date, source: EventSource, log: Logger): Promise<void> {
    this.#lastProgressWrite.delete(event.job_id)
    const row = await this.#d.store.find(event.job_id)
    if (!row) {
      log.warn('finished event for a job without a database row; output dropped')
      return
    }
    if (row.status !== 'queued' && row.status !== 'processing') {
      log.info({ status: row.status }, 'late finished event ignored: the job is already terminal')
      return
    }
    const batch = (row.params as unknown as JobParams).batch_size ?? event.outputs.length
    const saved: NewOutput[] = []
    for (const file of event.outputs) {
      const filename = this.#d.outputs.filename(event.job_id, file.index, batch)
      await this.#d.outputs.save(filename, source.fetchOutput(event.job_id, file.name), { bytes: file.bytes, sha256: file.sha256 })
      saved.push({ index: file.index, filename, mime: file.mime, width: file.width, height: file.height, bytes: file.bytes, sha256: file.sha256 })
    }
    const totalSteps = event.total_steps || row.totalSteps || 0
    const moved = await this.#d.store.finish(event.job_id, at, saved, totalSteps || null)
    if (!moved) {
      log.info('late finished event ignored: the job became terminal meanwhile')
      return
    }
    const outputs = outputsView({ id: row.id, params: row.params, outputs: saved.map(o => ({ ...o, id: 0, jobId: row.id, createdAt: at })) })
    await this.#d.cache.apply(event.job_id, {
      job_id: event.job_id,
      status: 'finished',
      progress: 100,
      ...(totalSteps ? { step: totalSteps, total_steps: totalSteps } : {}),
      node: '',
      error: '',
      image_url: outputs[0]?.url ?? '',
      outputs: JSON.stringify(outputs),
      finished_at: at.toISOString()
    }, 'force')
    await this.#d.events.append(event.job_id, {
      type: 'finished', status: 'finished', progress: 100, step: totalSteps, total_steps: totalSteps, image_url: outputs[0]?.url ?? '', outputs: JSON.stringify(outputs), at: at.toISOString()
    })
    this.#d.metrics.jobEnded(row.workflow, 'finished')
    log.info({ outputs: saved.length }, 'job finished')
  }

  async #ended (event: JobEvent, at: Date, log: Logger): Promise<void> {
    this.#lastProgressWrite.delete(event.job_id)
    const status = event.kind === 'FAILED' ? 'failed' : 'cancelled'
    const error = event.error || status
    const moved = await this.#d.store.end(event.job_id, status, at, error)
    if (!moved) {
      log.info({ status }, 'late terminal event ignored: the job is already terminal')
      return
    }
    await this.#d.cache.apply(event.job_id, {
      job_id: event.job_id, status, error, node: '', finished_at: at.toISOString()
    }, 'force')
    await this.#d.events.append(event.job_id, { type: status, status, error, at: at.toISOString() })
    this.#d.metrics.jobEnded(await this.#d.store.workflowOf(event.job_id) ?? 'unknown', status)
    log.info({ status, error }, `job ${status}`)
  }
}
