import type { FastifyBaseLogger as Logger } from 'fastify'
import type { NodeCatalogue, WorkerLinkSecurity } from '@comfy-jobs/rpc'
import type { Runnable } from '../jobs/job-service.ts'
import type { EventIngestor } from './event-ingestor.ts'
import { WorkerLink } from './worker-link.ts'
import { runnableOf } from './runnable.ts'
import { routeJob, waitingReason } from './capabilities.ts'
import type { QueuedJob } from '@comfy-jobs/contracts'
import type { InputFiles } from './input-feed.ts'

/**
 * The workers this gateway ingests from, and what they can run: the static WORKER_ADDRESSES, which
 * stay, and the workers found in the registry (WorkerDiscovery), linked while their entry lives.
 */
export class WorkerPool {
  readonly #static: WorkerLink[]
  /** registry-found links by worker id */
  readonly #found = new Map<string, WorkerLink>()
  readonly #make: (address: string) => WorkerLink
  #started = false
  /** runnable() of the last infos seen: asked on every submit, while infos change every few seconds at most */
  #runnable: { infos: Array<WorkerLink['info']>, value: Runnable } | null = null

  constructor (addresses: string[], ingestor: EventIngestor, files: InputFiles, gatewayId: string, logger: Logger, security: WorkerLinkSecurity) {
    // the one place a link to a worker is made: what protects the link (a token) goes here
    this.#make = address => new WorkerLink(address, ingestor, files, gatewayId, logger, security)
    this.#static = addresses.map(this.#make)
  }

  get links (): WorkerLink[] {
    return [...this.#static, ...this.#found.values()]
  }

  start (): void {
    this.#started = true
    for (const link of this.links) link.start()
  }

  async stop (): Promise<void> {
    this.#started = false
    await Promise.all(this.links.map(l => l.stop()))
  }

  /**
   * Links to the registry's live workers and drops the links of those gone from it. A worker also in
   * WORKER_ADDRESSES (same address, or same id once its link has asked GetInfo) keeps its static link.
   * Returns what changed.
   */
  async sync (live: Array<{ worker_id: string, address: string }>): Promise<{ added: string[], dropped: string[] }> {
    // a listed worker may announce another address than the list's (a proxy, NAT): wait until every
    // listed link has asked its worker's id (bounded by GetInfo's deadline), or it would be linked twice
    if (this.#static.some(l => !l.infoTried)) return { added: [], dropped: [] }
    const staticAddresses = new Set(this.#static.map(l => l.address))
    const staticIds = new Set(this.#static.map(l => l.info?.worker_id).filter(id => id !== undefined))
    const wanted = new Map(live.filter(w => !staticAddresses.has(w.address) && !staticIds.has(w.worker_id)).map(w => [w.worker_id, w.address]))
    const dropped: WorkerLink[] = []
    for (const [id, link] of this.#found) {
      if (wanted.get(id) === link.address) continue
      this.#found.delete(id)
      dropped.push(link)
    }
    const added: string[] = []
    for (const [id, address] of wanted) {
      if (this.#found.has(id)) continue
      const link = this.#make(address)
      this.#found.set(id, link)
      added.push(address)
      if (this.#started) link.start()
    }
    await Promise.all(dropped.map(l => l.stop()))
    return { added, dropped: dropped.map(l => l.address) }
  }

  /** What the linked workers can run (see runnableOf), recomputed only when a worker's info changed. */
  runnable (): Runnable {
    const current = this.links.map(l => l.info)
    if (this.#runnable !== null && current.every((info, i) => info === this.#runnable!.infos[i])) return this.#runnable.value
    const value = runnableOf(current.filter(i => i !== null))
    this.#runnable = { infos: current, value }
    return value
  }

  /** What the workers that answer (streamed here or elsewhere) say they run. */
  liveInfos (): Array<NonNullable<WorkerLink['info']>> {
    return this.links.filter(l => (l.connected || l.standby) && l.info !== null).map(l => l.info!)
  }

  /** The capability queue for a job (see routeJob), or null for the queue itself. */
  route (queueName: string, job: QueuedJob): string | null {
    return routeJob(queueName, this.liveInfos(), job)
  }

  /** Why a queued job of this workflow and model waits, when no live worker can run it. */
  waitingReason (workflow: string, model: string): string | null {
    return waitingReason(this.liveInfos(), workflow, model)
  }

  /** The node catalogues of the ComfyUI workers, one per distinct ComfyUI (by digest). */
  nodeCatalogues (): NodeCatalogue[] {
    const byDigest = new Map<string, NodeCatalogue>()
    for (const link of this.links) if (link.nodeCatalogue !== null) byDigest.set(link.nodeCatalogue.digest, link.nodeCatalogue)
    return [...byDigest.values()]
  }
  /**
   * Tells the worker holding a job to stop it: the worker with that id if one is linked, else every
   * worker (a job taken from the queue moments ago has no worker on record yet). Resolves with each
   * asked worker's answer (running, held, unknown) or why it could not be asked; never rejects.
   */
  async cancel (jobId: string, workerId: string | null, reason: string): Promise<string[]> {
    const holder = this.links.filter(l => workerId !== null && l.info?.worker_id === workerId)
    const asked = holder.length > 0 ? holder : this.links
    return Promise.all(asked.map(l => l.cancel(jobId, reason).catch((err: Error) => `unreachable: ${err.message}`)))
  }

  /**
   * connected: this gateway ingests the worker's events; standby: another gateway does. A worker in
   * neither state is unreachable. ready: it takes jobs (its engine, e.g. ComfyUI, is up).
   */
  summary (): { configured: number, connected: number, standby: number, list: Array<{ address: string, discovered: boolean, connected: boolean, standby: boolean, worker_id: string | null, ready: boolean, not_ready_reason?: string }> } {
    const found = new Set(this.#found.values())
    const list = this.links.map(l => ({
      address: l.address,
      discovered: found.has(l),
      connected: l.connected,
      standby: !l.connected && l.standby,
      worker_id: l.info?.worker_id ?? null,
      ready: l.ready,
      ...(l.ready ? {} : { not_ready_reason: !l.connected && !l.standby ? 'unreachable' : l.info?.not_ready_reason || 'not ready' })
    }))
    return { configured: list.length, connected: list.filter(l => l.connected).length, standby: list.filter(l => l.standby).length, list }
  }
}
