import { Redis } from 'ioredis'
import { EVENTS_CHANNEL, eventsStreamKey } from '@comfy-jobs/contracts'

/**
 * The gateway's wake-ups on the events channel (`{job_id} {seq}`), as they arrive here. A wake-up is
 * published after its event is in the status hash and the job's stream; one wake-up may stand for a
 * run of events (its seq is the run's last), so an event is visible from the first wake-up of its
 * job with a seq at or above its own.
 */
export class WakeUps {
  /** per job: [seq, arrival ms] in arrival order */
  readonly #byJob = new Map<string, Array<[number, number]>>()
  #durable = 0
  first = NaN
  last = NaN
  readonly #sub: Redis
  readonly #onFirst: (() => void) | undefined

  private constructor (redisUrl: string, onFirst?: () => void) {
    this.#sub = new Redis(redisUrl)
    this.#onFirst = onFirst
    this.#sub.on('message', (_channel: string, message: string) => this.#seen(message, Date.now()))
  }

  static async listen (redisUrl: string, onFirst?: () => void): Promise<WakeUps> {
    const w = new WakeUps(redisUrl, onFirst)
    await w.#sub.subscribe(EVENTS_CHANNEL)
    return w
  }

  /** events made durable so far: the sum over jobs of the highest stream seq woken for */
  get durable (): number {
    return this.#durable
  }

  #seen (message: string, at: number): void {
    const space = message.indexOf(' ')
    const jobId = message.slice(0, space)
    const seq = Number(message.slice(space + 1))
    if (Number.isNaN(this.first)) { this.first = at; this.#onFirst?.() }
    let list = this.#byJob.get(jobId)
    if (!list) this.#byJob.set(jobId, list = [])
    const top = list.length > 0 ? list[list.length - 1][0] : 0
    if (seq > top) { this.#durable += seq - top; this.last = at }
    list.push([seq, at])
  }

  /** When the event with stream seq `seq` of the job became visible here, if it did. */
  visibleAt (jobId: string, seq: number): number | undefined {
    return this.#byJob.get(jobId)?.find(([s]) => s >= seq)?.[1]
  }

  /** Emission (`at`) → visible, ms, for every progress event of the jobs emitted at or after `from`. */
  async progressLags (redis: Redis, ids: string[], from = 0): Promise<number[]> {
    const lags: number[] = []
    for (const id of ids) {
      for (const [, kv] of await redis.xrange(eventsStreamKey(id), '-', '+')) {
        const f: Record<string, string> = {}
        for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1]
        const visible = this.visibleAt(id, Number(f.seq))
        if (f.type === 'progress' && visible !== undefined && Date.parse(f.at) >= from) lags.push(visible - Date.parse(f.at))
      }
    }
    return lags.sort((a, b) => a - b)
  }

  close (): void {
    this.#sub.disconnect()
  }
}
