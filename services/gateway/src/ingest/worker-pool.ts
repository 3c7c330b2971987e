import type { FastifyBaseLogger as Logger } from 'fastify'
import { BUILTIN_MODELS, BUILTIN_WORKFLOWS } from '@comfy-jobs/contracts'
import type { Runnable } from '../jobs/job-service.ts'
import type { EventIngestor } from './event-ingestor.ts'
import { WorkerLink } from './worker-link.ts'

/** The workers this gateway ingests from (WORKER_ADDRESSES), and what they can run. */
export class WorkerPool {
  readonly links: WorkerLink[]

  constructor (addresses: string[], ingestor: EventIngestor, gatewayId: string, logger: Logger) {
    this.links = addresses.map(a => new WorkerLink(a, ingestor, gatewayId, logger))
  }

  start (): void {
    for (const link of this.links) link.start()
  }

  async stop (): Promise<void> {
    await Promise.all(this.links.map(l => l.stop()))
  }

  /** Workflows and models some worker can run; before any worker has answered, the built-in set. */
  runnable (): Runnable {
    const infos = this.links.map(l => l.info).filter(i => i !== null)
    if (infos.length === 0) return { workflows: new Set(BUILTIN_WORKFLOWS), models: new Set(BUILTIN_MODELS) }
    return {
      workflows: new Set(infos.flatMap(i => i.workflows)),
      models: new Set(infos.flatMap(i => i.models))
    }
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

  summary (): { configured: number, connected: number, list: Array<{ address: string, connected: boolean, worker_id: string | null }> } {
    const list = this.links.map(l => ({ address: l.address, connected: l.connected, worker_id: l.info?.worker_id ?? null }))
    return { configured: list.length, connected: list.filter(l => l.connected).length, list }
  }
}
