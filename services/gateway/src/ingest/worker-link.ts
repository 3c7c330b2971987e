import * as grpc from '@grpc/grpc-js'
import type { FastifyBaseLogger as Logger } from 'fastify'
import { createWorkerClient, type WorkerLinkSecurity, type JobEvent, type NodeCatalogue, type WorkerInfo, type WorkerServiceClient } from '@comfy-jobs/rpc'
import type { EventIngestor, EventSource } from './event-ingestor.ts'
import { EventBatch, type BatchContext } from './event-batch.ts'
import { InputFeed, type InputFiles } from './input-feed.ts'

const RPC_DEADLINE_MS = 2000
const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 3000
/** How often GetInfo is asked again: readiness and the model lists change while the stream is up. */
const INFO_REFRESH_MS = 2000
/** Most events made durable (and acked) together. */
const MAX_BATCH = 500
/** Batches under way at once: later ones go on while an earlier one waits on a slow job (an output download). */
const MAX_IN_FLIGHT = 4

type EventCall = grpc.ClientDuplexStream<any, JobEvent>

/** A batch under way; acks go out in batch order, each once it and every earlier batch are durable. */
interface InFlight {
  call: EventCall
  epoch: string
  /** the highest seq taken, duplicates included */
  seq: number
  /** null while running; then whether it became durable */
  durable: boolean | null
  done: Promise<unknown>
}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const onAbort = () => { clearTimeout(timer); resolve() }
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The gateway's end of one worker's event stream. Events that have arrived are taken in batches (as
 * many as have arrived, up to MAX_BATCH: a batch never waits to fill), made durable in order per job,
 * and acked with the batch's highest seq once it and every earlier batch are durable. Reconnects with backoff, telling the worker the last seq it
 * made durable so the worker replays the rest.
 */
export class WorkerLink implements EventSource {
  readonly address: string
  readonly #client: WorkerServiceClient
  readonly #ingestor: EventIngestor
  readonly #log: Logger
  readonly #gatewayId: string
  #abort = new AbortController()
  #call: EventCall | null = null
  /** arrived, not yet taken into a batch; each with the stream it came on (acks go back on it) */
  #arrived: Array<{ event: JobEvent, call: EventCall }> = []
  #draining: Promise<void> | null = null
  #inFlight: InFlight[] = []
  #gaveUp = false
  /** per job, its latest lane still running: the job's next events start after it */
  readonly #tails = new Map<string, Promise<boolean>>()
  readonly #batchContext: BatchContext
  /** the worker fetches jobs' input files through it */
  readonly #feed: InputFeed
  #epoch = ''
  #durableSeq = 0
  #running = false
  #infoTimer: NodeJS.Timeout | null = null
  info: WorkerInfo | null = null
  /** the node classes of the worker's ComfyUI (raw graphs are checked against them); null when it has none */
  nodeCatalogue: NodeCatalogue | null = null
  #catalogueFetch: Promise<void> | null = null
  connected = false
  /** its first GetInfo has answered or failed: until then the worker's id is unknown */
  infoTried = false
  /** the worker answers, but another gateway holds its event stream */
  standby = false

  constructor (address: string, ingestor: EventIngestor, files: InputFiles, gatewayId: string, logger: Logger, security: WorkerLinkSecurity) {
    this.address = address
    this.#client = createWorkerClient(address, security)
    this.#ingestor = ingestor
    this.#gatewayId = gatewayId
    this.#log = logger.child({ component: 'worker-link', worker: address })
    this.#feed = new InputFeed(this.#client, files, gatewayId, this.#log.child({ component: 'input-feed' }))
    this.#batchContext = {
      ingestor,
      source: this,
      log: this.#log,
      running: () => this.#running,
      sleep: ms => sleep(ms, this.#abort.signal)
    }
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    this.#abort = new AbortController()
    void this.#loop()
    this.#feed.start()
    this.#infoTimer = setInterval(() => {
      this.getInfo().then(info => { this.info = info }, () => {})
    }, INFO_REFRESH_MS)
  }

  /** Reachable (streaming to this gateway or another) and its worker says it takes jobs. */
  get ready (): boolean {
    return (this.connected || this.standby) && this.info?.ready === true
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    if (this.#infoTimer !== null) clearInterval(this.#infoTimer)
    this.#abort.abort()
    this.#call?.cancel()
    this.#feed.stop()
    await this.#idle()
    this.#arrived = [] // not durable, not acked: the worker sends them again to whoever connects next
    this.#client.close()
  }

  async #loop (): Promise<void> {
    let backoff = BACKOFF_MIN_MS
    let failures = 0
    while (this.#running) {
      try {
        this.info = await this.getInfo().finally(() => { this.infoTried = true })
        await this.#stream(() => { backoff = BACKOFF_MIN_MS; failures = 0 })
      } catch (err) {
        const e = err as grpc.ServiceError
        this.standby = e.code === grpc.status.ALREADY_EXISTS
        if (this.#running) {
          // warn once per outage, not once per retry
          const level = this.connected || failures === 0 ? 'warn' : 'debug'
          this.#log[level]({ code: e.code, err: e.details ?? e.message }, 'worker event stream unavailable; retrying')
        }
        failures++
      }
      this.connected = false
      if (!this.#running) break
      await sleep(backoff, this.#abort.signal)
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)
    }
  }

  /** One stream session; resolves or rejects when the stream ends. */
  async #stream (onFirstEvent: () => void): Promise<void> {
    await this.#idle() // events of the previous session finish before we say where we left off
    this.#gaveUp = false
    const call = this.#client.StreamEvents()
    this.#call = call
    call.write({ hello: { gateway_id: this.#gatewayId, epoch: this.#epoch, acked_seq: this.#durableSeq } })
    await new Promise<void>((resolve, reject) => {
      let opened = false
      call.on('metadata', () => {
        if (!opened) { opened = true; this.connected = true; this.standby = false; this.#log.info({ epoch: this.#epoch, acked_seq: this.#durableSeq }, 'worker event stream open') }
        // a worker that no gateway streamed took no jobs; now it does: its readiness changed
        this.getInfo().then(info => { this.info = info }, () => {})
      })
      call.on('data', (event: JobEvent) => {
        if (!opened) { opened = true; this.connected = true }
        onFirstEvent()
        this.#arrived.push({ event, call })
        this.#kick()
      })
      call.on('error', reject)
      call.on('end', () => resolve())
    })
  }

  async #idle (): Promise<void> {
    while (this.#draining !== null) await this.#draining
  }

  /** Starts the drain loop unless it runs; in the next turn, so events arriving together share a batch. */
  #kick (): void {
    if (this.#draining !== null || !this.#running) return
    this.#draining = new Promise<void>(resolve => setImmediate(resolve))
      .then(() => this.#drain())
      .catch((err: Error) => this.#log.error({ err: err.message }, 'event drain failed'))
      .finally(() => {
        this.#draining = null
        if (this.#arrived.length > 0) this.#kick()
      })
  }

  /** Takes arrived events into batches, up to MAX_IN_FLIGHT at once; returns when all have settled. */
  async #drain (): Promise<void> {
    while (this.#running && this.#arrived.length > 0) {
      const { events, call } = this.#take()
      const { epoch } = events[0]
      const fresh = events.filter(e => !(e.epoch === this.#epoch && e.seq <= this.#durableSeq))
      if (fresh.length > 0 && epoch !== this.#epoch) {
        // only at a session's first batch: a session has one epoch, and the previous one has drained
        if (this.#epoch) this.#log.info({ old: this.#epoch, epoch }, 'worker restarted (new epoch)')
        this.#epoch = epoch
        this.#durableSeq = 0
      }
      const entry: InFlight = { call, epoch, seq: events[events.length - 1].seq, durable: null, done: Promise.resolve() }
      const durable = fresh.length > 0 ? new EventBatch(fresh).run(this.#batchContext, this.#tails) : Promise.resolve(true)
      entry.done = durable.then(ok => { entry.durable = ok; this.#ackInOrder() })
      this.#inFlight.push(entry)
      if (this.#inFlight.length >= MAX_IN_FLIGHT) await this.#inFlight[0].done
    }
    while (this.#inFlight.length > 0) await this.#inFlight[0].done
  }

  #ackInOrder (): void {
    while (this.#inFlight.length > 0 && this.#inFlight[0].durable !== null) {
      const { call, epoch, seq, durable } = this.#inFlight.shift()!
      // a batch given up (the link stops) is not durable, so no later one may be acked either
      if (!durable) this.#gaveUp = true
      if (this.#gaveUp) continue
      this.#durableSeq = seq
      if (!call.destroyed && call.writable) call.write({ ack: { epoch, seq } })
    }
  }

  /** The arrived events up to MAX_BATCH that share the first one's stream and epoch. */
  #take (): { events: JobEvent[], call: EventCall } {
    const { call, event: first } = this.#arrived[0]
    let n = 1
    while (n < this.#arrived.length && n < MAX_BATCH && this.#arrived[n].call === call && this.#arrived[n].event.epoch === first.epoch) n++
    return { events: this.#arrived.splice(0, n).map(a => a.event), call }
  }

  async getInfo (): Promise<WorkerInfo> {
    const info = await new Promise<WorkerInfo>((resolve, reject) => {
      this.#client.GetInfo({}, { deadline: Date.now() + RPC_DEADLINE_MS }, (err, res) => err ? reject(err) : resolve(res!))
    })
    this.#syncNodeCatalogue(info.node_catalogue_digest ?? '')
    return info
  }

  /** Fetches the worker's node catalogue when GetInfo says it changed (once at a time). */
  #syncNodeCatalogue (digest: string): void {
    if (digest === '') {
      this.nodeCatalogue = null
      return
    }
    if (this.nodeCatalogue?.digest === digest || this.#catalogueFetch !== null) return
    this.#catalogueFetch = new Promise<NodeCatalogue>((resolve, reject) => {
      this.#client.GetNodeCatalogue({}, { deadline: Date.now() + RPC_DEADLINE_MS }, (err, res) => err ? reject(err) : resolve(res!))
    }).then(catalogue => {
      this.nodeCatalogue = catalogue
      this.#log.info({ classes: catalogue.classes.length, digest: catalogue.digest }, 'worker node catalogue fetched')
    }, (err: grpc.ServiceError) => {
      this.#log.warn({ code: err.code, err: err.details ?? err.message }, 'worker node catalogue could not be fetched; asking again at the next GetInfo')
    }).finally(() => { this.#catalogueFetch = null })
  }

  cancel (jobId: string, reason: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#client.CancelJob({ job_id: jobId, reason }, { deadline: Date.now() + RPC_DEADLINE_MS },
        (err, res) => err ? reject(err) : resolve(res!.state))
    })
  }

  async * fetchOutput (jobId: string, name: string): AsyncIterable<Buffer> {
    const call = this.#client.GetOutput({ job_id: jobId, name }, { deadline: Date.now() + 60_000 })
    for await (const chunk of call) yield (chunk as { data: Buffer }).data
  }
}
