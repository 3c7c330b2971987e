import type { FastifyBaseLogger as Logger } from 'fastify'
import { BUILTIN_MODELS, BUILTIN_WORKFLOWS } from '@comfy-jobs/contracts'
import type { Runnable } from '../jobs/job-service.ts'
import type { EventIngestor } from './event-ingestor.ts'
import { WorkerLink } from './worker-link.ts'

/** The workers this gateway ingests from (WORKER_ADDRESSES), and what they can run. */
export class WorkerPool {
  readonly links: WorkerLink[]
  /** runnable() of the last infos seen: asked on every submit, while infos change every few seconds at most */
  #runnable: { infos: Array<WorkerLink['info']>, value: Runnable } | null = null

  constructor (addresses: string[], ingestor: EventIngestor, gatewayId: string, logger: Logger) {
    this.links = addresses.map(a => new WorkerLink(a, ingestor, gatewayId, logger))
  }

  start (): void {
    for (const link of this.links) link.start()
  }

  async stop (): Promise<void> {
    await Promise.all(this.links.map(l => l.stop()))
  }

  /**
   * Workflows and models some worker can run, and which models each workflow takes; before any
   * worker has answered, the built-in set. A worker that does not list pairs takes every model it
   * lists in every workflow it lists.
   */
  runnable (): Runnable {
    const current = this.links.map(l => l.info)
    if (this.#runnable !== null && current.every((info, i) => info === this.#runnable!.infos[i])) return this.#runnable.value
    const value = this.#computeRunnable(current.filter(i => i !== null))
    this.#runnable = { infos: current, value }
    return value
  }

  #computeRunnable (infos: Array<NonNullable<WorkerLink['info']>>): Runnable {
    const pairs = infos.length === 0
      ? [{ workflow: BUILTIN_WORKFLOWS[0], models: [...BUILTIN_MODELS] }]
      : infos.flatMap(i => i.runnable?.length ? i.runnable : i.workflows.map(workflow => ({ workflow, models: i.models })))
    const modelsByWorkflow = new Map<string, Set<string>>()
    for (const { workflow, models } of pairs) {
      const set = modelsByWorkflow.get(workflow) ?? new Set<string>()
      for (const model of models ?? []) set.add(model)
      modelsByWorkflow.set(workflow, set)
    }
    return {
      workflows: new Set(modelsByWorkflow.keys()),
      models: new Set([...modelsByWorkflow.values()].flatMap(set => [...set])),
      modelsByWorkflow
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

  /**
   * connected: this gateway ingests the worker's events; standby: another gateway does. A worker in
   * neither state is unreachable. ready: it takes jobs (its engine, e.g. ComfyUI, is up).
   */
  summary (): { configured: number, connected: number, standby: number, list: Array<{ address: string, connected: boolean, standby: boolean, worker_id: string | null, ready: boolean }> } {
    const list = this.links.map(l => ({ address: l.address, connected: l.connected, standby: !l.connected && l.standby, worker_id: l.info?.worker_id ?? null, ready: l.ready }))
    return { configured: list.length, connected: list.filter(l => l.connected).length, standby: list.filter(l => l.standby).length, list }
  }
}
