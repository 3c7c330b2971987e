import { setTimeout as sleep } from 'node:timers/promises'
import type { ChaosSystem } from './chaos-system.ts'

export interface FaultPlan {
  workerKills: number
  gatewayKills: number
  redisRestarts: number
  /** one outage of the database link, this long */
  outageMs: number
  /** a window of this length in which the link is cut every 1-2 s */
  flapMs: number
}

/** One fault, due at this share of the run's progress. */
export interface Step { at: number, name: string, run: () => Promise<void> }

const jitter = (min: number, max: number): number => min + Math.random() * (max - min)

/**
 * Hits the system with the plan's faults, spread over the run by progress (0..1, e.g. the share of
 * submits answered), not by time, so a slow machine gets the same faults at the same points of the work.
 */
export class ChaosMonkey {
  readonly done = { workerKills: 0, gatewayKills: 0, redisRestarts: 0, outages: 0, flapCuts: 0 }
  readonly #sys: ChaosSystem
  readonly #steps: Step[] = []
  /** restarts of killed processes, and the link faults that last a while */
  readonly #background: Array<Promise<void>> = []

  /** more: steps of the caller's own (e.g. a worker added), run in order with the plan's */
  constructor (sys: ChaosSystem, plan: FaultPlan, more: Step[] = []) {
    this.#sys = sys
    const s = this.#steps
    s.push(...more)
    for (let k = 1; k <= plan.workerKills; k++) s.push({ at: 0.9 * k / (plan.workerKills + 1), name: 'worker kill -9', run: () => this.#killWorker() })
    for (let k = 1; k <= plan.gatewayKills; k++) s.push({ at: 0.85 * k / (plan.gatewayKills + 1), name: 'gateway kill -9', run: () => this.#killGateway() })
    for (let k = 1; k <= plan.redisRestarts; k++) s.push({ at: 0.35 * k / plan.redisRestarts, name: 'Redis restart without persistence', run: () => this.#restartRedis() })
    // the long ones run beside the others
    if (plan.outageMs > 0) s.push({ at: 0.12, name: `database link down ${plan.outageMs / 1000} s`, run: async () => { this.#background.push(this.#outage(plan.outageMs)) } })
    if (plan.flapMs > 0) s.push({ at: 0.55, name: `database link flapping for ${plan.flapMs / 1000} s`, run: async () => { this.#background.push(this.#flap(plan.flapMs)) } })
    s.sort((a, b) => a.at - b.at)
  }

  get pending (): number {
    return this.#steps.length
  }

  /** Runs each step once its share of the work is done; `progress` is 0..1. */
  async run (progress: () => Promise<number>, log: (line: string) => void): Promise<void> {
    while (this.#steps.length > 0) {
      const now = await progress().catch(() => 0)
      while (this.#steps.length > 0 && this.#steps[0].at <= now) {
        const step = this.#steps.shift()!
        log(`${(now * 100).toFixed(0)} %: ${step.name}`)
        await step.run()
      }
      await sleep(500)
    }
    await Promise.all(this.#background)
  }

  async #killWorker (): Promise<void> {
    const live = this.#sys.workers.flatMap((w, i) => w ? [i] : [])
    if (live.length === 0) return
    const i = live[Math.floor(Math.random() * live.length)]
    await this.#sys.killWorker(i)
    this.done.workerKills++
    this.#background.push(this.#sys.startWorker(i))
  }

  async #killGateway (): Promise<void> {
    const live = this.#sys.liveGateways()
    if (live.length < 2) return // one always serves the clients
    const i = live[Math.floor(Math.random() * live.length)]
    await this.#sys.killGateway(i)
    this.done.gatewayKills++
    this.#background.push(sleep(2000).then(() => this.#sys.startGateway(i)))
  }

  async #restartRedis (): Promise<void> {
    await this.#sys.restartRedis()
    this.done.redisRestarts++
  }

  async #outage (ms: number): Promise<void> {
    this.#sys.dbProxy.cut(true)
    this.done.outages++
    await sleep(ms)
    this.#sys.dbProxy.resume()
  }

  /** "A TCP proxy killed every 1-2 s": every link cut and new ones refused for a moment, again and again. */
  async #flap (ms: number): Promise<void> {
    const until = Date.now() + ms
    while (Date.now() < until) {
      await sleep(jitter(700, 1500))
      this.#sys.dbProxy.cut(true)
      this.done.flapCuts++
      await sleep(jitter(200, 600))
      this.#sys.dbProxy.resume()
    }
  }
}
