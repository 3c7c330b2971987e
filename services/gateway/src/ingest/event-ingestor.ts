import { status as GrpcStatus } from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobEvent } from '@comfy-jobs/rpc'
import { OUTPUT_KINDS, outputFilename, outputKindOf, type JobParams, type OutputKind } from '@comfy-jobs/contracts'
import type { JobStore, JobWithOutputs, NewOutput } from '../jobs/job-store.ts'
import type { JobEventLog } from '../jobs/job-event-log.ts'
import { outputsView } from '../jobs/status-view.ts'
import type { OutputStore } from './output-store.ts'
import type { EventWriter, EventWrite, WriteResult } from './event-writer.ts'
import type { GatewayMetrics } from '../metrics/gateway-metrics.ts'

/** What the ingestor needs from the link an event came through. */
export interface EventSource {
  fetchOutput: (jobId: string, name: string) => AsyncIterable<Buffer>
  cancel: (jobId: string, reason: string) => Promise<string>
}

export interface EventIngestorDeps {
  store: JobStore
  writer: EventWriter
  /** the job event histories the writer appends to: read to find where a job's history ends */
  history: JobEventLog
  outputs: OutputStore
  logger: Logger
  metrics: GatewayMetrics
  progressDbIntervalMs: number
}

/**
 * Makes worker events durable: transitions in the database first, then Redis (status hash, event
 * stream, wake-up, in one script); progress in Redis, a run of one job's events in one round trip, and a job's latest
 * progress in the database at a bounded rate. Applying an event again is harmless: the Redis script
 * skips an event it already holds, and a transition the database already has is only completed in Redis.
 */
export class EventIngestor {
  readonly #d: EventIngestorDeps
  readonly #lastProgressWrite = new Map<string, number>()

  constructor (deps: EventIngestorDeps) {
    this.#d = deps
  }

  /** Writes a run of one job's PROGRESS events to Redis in one round trip: all of them, or none. */
  async writeProgress (events: JobEvent[]): Promise<void> {
    await this.#d.writer.writeProgressRun(events)
    for (const event of events) this.#d.metrics.eventDurable('PROGRESS', event.at_ms)
  }

  /** The job's progress as of `event` into the database, unless it was written less than the interval ago. */
  async saveProgress (event: JobEvent): Promise<void> {
    const now = Date.now()
    const last = this.#lastProgressWrite.get(event.job_id) ?? 0
    if (now - last < this.#d.progressDbIntervalMs) return
    await this.#d.store.saveProgress(event.job_id, event.progress, event.step || null, event.total_steps || null)
    this.#lastProgressWrite.set(event.job_id, now)
  }

  /** STARTED, FINISHED, FAILED or CANCELLED. */
  async applyTransition (event: JobEvent, source: EventSource): Promise<void> {
    const log = this.#d.logger.child({ job_id: event.job_id, worker_id: event.worker_id, epoch: event.epoch, seq: event.seq })
    const at = new Date(event.at_ms || Date.now())
    switch (event.kind) {
      case 'STARTED': await this.#started(event, at, source, log); break
      case 'FINISHED': await this.#finished(event, at, source, log); break
      case 'FAILED':
      case 'CANCELLED': await this.#ended(event, at, log); break
      default: log.warn({ kind: event.kind }, 'unknown event kind ignored'); return
    }
    this.#d.metrics.eventDurable(event.kind, event.at_ms)
  }

  async #started (event: JobEvent, at: Date, source: EventSource, log: Logger): Promise<void> {
    const run = { id: `${event.epoch}:${event.seq}`, attempt: event.attempt || 1 }
    const live = await this.#d.store.markStarted(event.job_id, at, run, event.worker_id, event.total_steps || null)
    if (live) {
      // 'state': a cancel may land between markStarted and here; then the cache is terminal and stays so.
      await this.#d.writer.write({
        event,
        mode: 'state',
        status: { job_id: event.job_id, status: 'processing', progress: 0, step: 0, total_steps: event.total_steps, node: event.node, error: '', started_at: at.toISOString() },
        entry: { type: 'processing', status: 'processing', progress: 0, step: 0, total_steps: event.total_steps, attempt: event.attempt, at: at.toISOString() }
      })
      log.info({ attempt: event.attempt }, 'job started on worker')
      return
    }
    const row = await this.#d.store.find(event.job_id)
    if (row) await this.#d.store.countRuns(event.job_id, run.attempt) // it ran, however briefly: attempts counts every run
    const reason = row ? `job is already ${row.status}` : 'job has no database row'
    log.warn({ reason }, 'worker started a job that must not run; cancelling it')
    await source.cancel(event.job_id, reason).catch((err: Error) => log.warn({ err: err.message }, 'cancel on worker failed'))
  }

  async #finished (event: JobEvent, at: Date, source: EventSource, log: Logger): Promise<void> {
    this.#lastProgressWrite.delete(event.job_id)
    const row = await this.#d.store.find(event.job_id)
    if (!row) {
      log.warn('finished event for a job without a database row; output dropped')
      return
    }
    if (row.status === 'finished') return this.#settle(event, row, log)
    if (row.status !== 'queued' && row.status !== 'processing') {
      log.info({ status: row.status }, 'late finished event ignored: the job is already terminal')
      return
    }
    // named as the original named images: with an index when the job makes (or was asked for) several
    const count = Math.max((row.params as unknown as JobParams).batch_size ?? 1, event.outputs.length)
    const saved: NewOutput[] = []
    try {
      for (const file of event.outputs) {
        const filename = outputFilename(event.job_id, file.index, count, file.mime)
        await this.#d.outputs.save(filename, source.fetchOutput(event.job_id, file.name), { bytes: file.bytes, sha256: file.sha256 })
        saved.push({
          index: file.index,
          filename,
          kind: (OUTPUT_KINDS as readonly string[]).includes(file.kind) ? file.kind as OutputKind : outputKindOf(file.mime),
          mime: file.mime,
          width: file.width,
          height: file.height,
          bytes: file.bytes,
          sha256: file.sha256,
          durationMs: file.duration_ms || null,
          frames: file.frames || null
        })
      }
    } catch (err) {
      // Retrying cannot help: the worker that ran the job is gone (a restarted worker holds no outputs
      // of its previous life), and waiting for it would hold up this link forever. The queue entry was
      // never completed (that waits for our ack), so the queue runs the job again.
      if ((err as { code?: number }).code !== GrpcStatus.NOT_FOUND) throw err
      log.warn({ err: (err as Error).message }, 'the worker no longer holds the output; the job is left to the queue, which runs it again')
      return
    }
    const totalSteps = event.total_steps || row.totalSteps || 0
    const moved = await this.#d.store.finish(event.job_id, at, saved, totalSteps || null)
    if (!moved) {
      log.info('late finished event ignored: the job became terminal meanwhile')
      return
    }
    await this.#writeEnd(finishedWrite(event, { ...row, totalSteps, finishedAt: at, outputs: saved.map(o => ({ ...o, id: 0, jobId: row.id, createdAt: at })) }))
    this.#d.metrics.jobEnded(row.workflow, 'finished')
    log.info({ outputs: saved.length }, 'job finished')
  }

  async #ended (event: JobEvent, at: Date, log: Logger): Promise<void> {
    this.#lastProgressWrite.delete(event.job_id)
    const status = event.kind === 'FAILED' ? 'failed' : 'cancelled'
    const error = event.error || status
    // the worker's last progress travels with the event: the row's lags by up to PROGRESS_DB_INTERVAL_MS
    const last = event.progress > 0 ? { progress: event.progress, step: event.step || null } : undefined
    // a worker's MAX_ATTEMPTS refusal reports the runs that began, one of which may have died with
    // its worker before its STARTED reached a gateway (failures are rare: one more write is cheap)
    if (event.kind === 'FAILED' && event.attempt > 0) await this.#d.store.countRuns(event.job_id, event.attempt)
    const moved = await this.#d.store.end(event.job_id, status, at, error, last)
    if (!moved) {
      const row = await this.#d.store.find(event.job_id)
      if (row?.status === status) return this.#settle(event, row, log)
      log.info({ status }, 'late terminal event ignored: the job is already terminal')
      return
    }
    const written = await this.#writeEnd(endedWrite(event, status, error, at))
    // the hash has the workflow from the submit; the database only when the hash was lost
    const workflow = written.outcome === 'written' && written.workflow !== '' ? written.workflow : await this.#d.store.workflowOf(event.job_id)
    this.#d.metrics.jobEnded(workflow ?? 'unknown', status)
    log.info({ status, error }, `job ${status}`)
  }

  /**
   * The database already holds the terminal state this event leads to: a replay after a gateway
   * crash, or a retry after Redis failed, between the database write and the Redis write. Completes
   * the Redis side from the row unless the hash already says so (e.g. the gateway's own cancel).
   */
  async #settle (event: JobEvent, row: JobWithOutputs, log: Logger): Promise<void> {
    if (await this.#d.writer.status(event.job_id) === row.status) {
      // a retry after the end's Redis write but before its position reached the database
      if (row.endEventId === null) await this.#recordHistoryEnd(event.job_id)
      log.info({ status: row.status }, 'late terminal event ignored: the job is already terminal')
      return
    }
    const at = row.finishedAt ?? new Date(event.at_ms)
    await this.#writeEnd(row.status === 'finished'
      ? finishedWrite(event, row)
      : endedWrite(event, row.status as 'failed' | 'cancelled', row.error ?? row.status, at))
    log.info({ status: row.status }, 'terminal state completed in redis from the database')
  }

  /** Writes a terminal event to Redis, then where it landed to the database (see JobStore.recordEnd). */
  async #writeEnd (write: EventWrite): Promise<WriteResult> {
    const written = await this.#d.writer.write(write)
    if (written.outcome === 'written') await this.#d.store.recordEnd(write.event.job_id, written.at)
    return written
  }

  async #recordHistoryEnd (jobId: string): Promise<void> {
    const head = await this.#d.history.head(jobId)
    if (head?.terminal) await this.#d.store.recordEnd(jobId, head)
  }
}

function finishedWrite (event: JobEvent, row: JobWithOutputs): EventWrite {
  const totalSteps = row.totalSteps || 0
  const at = (row.finishedAt ?? new Date(event.at_ms)).toISOString()
  const outputs = outputsView(row)
  const imageUrl = outputs[0]?.url ?? ''
  return {
    event,
    mode: 'force',
    status: {
      job_id: event.job_id,
      status: 'finished',
      progress: 100,
      ...(totalSteps ? { step: totalSteps, total_steps: totalSteps } : {}),
      node: '',
      error: '',
      image_url: imageUrl,
      outputs: JSON.stringify(outputs),
      finished_at: at
    },
    entry: { type: 'finished', status: 'finished', progress: 100, step: totalSteps, total_steps: totalSteps, image_url: imageUrl, outputs: JSON.stringify(outputs), at }
  }
}

function endedWrite (event: JobEvent, status: 'failed' | 'cancelled', error: string, at: Date): EventWrite {
  return {
    event,
    mode: 'force',
    status: { job_id: event.job_id, status, error, node: '', finished_at: at.toISOString() },
    entry: { type: status, status, error, at: at.toISOString() }
  }
}
