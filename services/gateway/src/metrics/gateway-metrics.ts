import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { QueueDepth } from '../jobs/job-queue.ts'

export type TerminalStatus = 'finished' | 'failed' | 'cancelled'
export type StatusSource = 'redis' | 'database'


/** What the scrape-time gauges read; each source may fail (Redis away), which leaves its gauge unset. */
export interface GaugeSources {
  queueDepth: () => Promise<QueueDepth>
  queueConsumers: () => Promise<number>
  workerStreams: () => { configured: number, connected: number }
}

/** What the sweep gauges read at scrape; null: not known (yet). */
export interface SweepSources {
  cycleSeconds: () => number | null
  behindSeconds: () => number | null
}

/**
 * The gateway's Prometheus metrics, in a registry of its own (one per app, so two apps in one
 * process never share counters). The places that count call these methods; gauges are read at scrape.
 */
export class GatewayMetrics {
  readonly registry = new Registry()
  readonly #submitted: Counter<'workflow'>
  readonly #ended: Counter<'workflow' | 'status'>
  readonly #submitSeconds: Histogram<'workflow'>
  readonly #statusReads: Counter<'source'>
  readonly #ingestLag: Histogram<'kind'>
  readonly #sweepChecked: Counter
  readonly #submitGroupSize: Histogram
  #submitWaiting: (() => number) | null = null
  #sources: GaugeSources | null = null
  #sweep: SweepSources | null = null

  constructor () {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'comfy_jobs_gateway_' })
    this.#submitted = new Counter({ name: 'comfy_jobs_submitted_total', help: 'Jobs accepted by POST /api/generate (committed)', labelNames: ['workflow'], registers })
    this.#ended = new Counter({ name: 'comfy_jobs_ended_total', help: 'Jobs that reached a terminal status, by workflow and status (finished, failed, cancelled)', labelNames: ['workflow', 'status'], registers })
    this.#submitSeconds = new Histogram({
      name: 'comfy_jobs_submit_duration_seconds',
      help: 'Time to accept a job (insert, queue push, status init, commit), accepted submits only',
      labelNames: ['workflow'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers
    })
    this.#statusReads = new Counter({ name: 'comfy_jobs_status_reads_total', help: 'Status reads answered, by source (redis cache or database)', labelNames: ['source'], registers })
    this.#ingestLag = new Histogram({
      name: 'comfy_jobs_event_ingest_lag_seconds',
      help: 'From a worker emitting an event to the gateway making it durable',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    })
    this.#sweepChecked = new Counter({ name: 'comfy_jobs_sweep_checked_total', help: 'Live jobs the sweeper looked at (every live job once per cycle, a bounded number per pass)', registers })
    this.#submitGroupSize = new Histogram({
      name: 'comfy_jobs_submit_group_size',
      help: 'Submits that shared one transaction (group commit), one observation per group',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers
    })
    const metrics = this
    new Gauge({
      name: 'comfy_jobs_submit_waiting',
      help: 'Submits waiting for a group transaction to start',
      registers,
      collect () { this.set(metrics.#submitWaiting?.() ?? 0) }
    })
    new Gauge({
      name: 'comfy_jobs_sweep_cycle_seconds',
      help: 'How long the last complete sweep through every live job took (NaN before the first one)',
      registers,
      collect () { this.set(metrics.#sweep?.cycleSeconds() ?? Number.NaN) }
    })
    new Gauge({
      name: 'comfy_jobs_sweep_behind_seconds',
      help: 'How far behind the sweep is: every live job was checked within this many seconds, or is younger (NaN on a gateway that has not swept)',
      registers,
      collect () { this.set(metrics.#sweep?.behindSeconds() ?? Number.NaN) }
    })
    new Gauge({
      name: 'comfy_jobs_queue_depth',
      help: 'Jobs in the queue by state (waiting, prioritized, delayed, active)',
      labelNames: ['state'],
      registers,
      async collect () {
        const depth = await metrics.#read(s => s.queueDepth())
        if (!depth) return
        for (const [state, n] of Object.entries(depth)) this.set({ state }, n)
      }
    })
    new Gauge({
      name: 'comfy_jobs_queue_consumers',
      help: 'Worker processes consuming the queue (BullMQ workers, seen from any gateway)',
      registers,
      async collect () {
        const n = await metrics.#read(s => s.queueConsumers())
        if (n !== null) this.set(n)
      }
    })
    new Gauge({
      name: 'comfy_jobs_worker_streams',
      help: 'Worker event streams of this gateway, configured and connected',
      labelNames: ['state'],
      registers,
      collect () {
        const streams = metrics.#sources?.workerStreams()
        if (!streams) return
        this.set({ state: 'configured' }, streams.configured)
        this.set({ state: 'connected' }, streams.connected)
      }
    })
  }

  /** Connects the scrape-time gauges to what they read, once the app's parts exist. */
  observe (sources: GaugeSources): void {
    this.#sources = sources
  }

  async #read<T> (fn: (s: GaugeSources) => Promise<T>): Promise<T | null> {
    if (!this.#sources) return null
    try {
      return await fn(this.#sources)
    } catch {
      return null // a scrape while Redis is away shows the gauge missing, never fails the scrape
    }
  }

  /** Connects the sweep gauges to the sweeper. */
  observeSweep (sources: SweepSources): void {
    this.#sweep = sources
  }

  sweepChecked (jobs: number): void {
    this.#sweepChecked.inc(jobs)
  }

  submitGroup (size: number): void {
    this.#submitGroupSize.observe(size)
  }

  /** Connects the waiting-submits gauge to the job creator. */
  observeSubmitWaiting (waiting: () => number): void {
    this.#submitWaiting = waiting
  }

  jobSubmitted (workflow: string, seconds: number): void {
    this.#submitted.inc({ workflow })
    this.#submitSeconds.observe({ workflow }, seconds)
  }

  jobEnded (workflow: string, status: TerminalStatus): void {
    this.#ended.inc({ workflow, status })
  }

  statusRead (source: StatusSource): void {
    this.#statusReads.inc({ source })
  }

  eventDurable (kind: string, emittedAtMs: number): void {
    if (emittedAtMs > 0) this.#ingestLag.observe({ kind: kind.toLowerCase() }, Math.max(0, Date.now() - emittedAtMs) / 1000)
  }

  async text (): Promise<string> {
    return this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}
