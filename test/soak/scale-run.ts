import { setTimeout as sleep } from 'node:timers/promises'
import type { ChaosSystem } from './chaos-system.ts'
import type { ChaosMonkey } from './chaos-faults.ts'
import { submitAll, type Answer } from './chaos-traffic.ts'
import { CpuMeter, type CpuFigures } from './process-cpu.ts'
import { jobBody, picturePng } from './scale-plan.ts'

export interface RunPlan {
  n: number
  /** submits in flight at most */
  clients: number
  /** submits wait while this many accepted jobs have not ended, so the submits (and the events) span the run */
  backlog: number
  /** the run gives up waiting after this long without a job ending */
  stallMs: number
  /** tries of a submit refused with a 429/5xx or unanswered (with an Idempotency-Key); 1: each submit once */
  tries: number
  say: (line: string) => void
}

export interface RunResult {
  answers: Answer[]
  cpu: CpuFigures
}

const ENDED = "('finished', 'failed', 'cancelled')"

async function countEnded (sys: ChaosSystem): Promise<{ ended: number, live: number }> {
  const [rows] = await sys.db.pool.query(`SELECT SUM(status IN ${ENDED}) AS ended, SUM(status NOT IN ${ENDED}) AS live FROM jobs`) as any
  return { ended: Number(rows[0].ended ?? 0), live: Number(rows[0].live ?? 0) }
}

/** Resolves once every live gateway is healthy and links to every live worker (streaming it or standing by). */
export async function waitUntilLinked (sys: ChaosSystem, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const workers = sys.workers.filter(w => w !== null).length
  for (;;) {
    const healths = await Promise.all(sys.liveGateways().map(g => fetch(`${sys.baseUrl(g)}/api/health`).then(r => r.json(), () => null))) as any[]
    if (healths.every(h => h?.status === 'ok' && h.workers.configured === workers)) return
    if (Date.now() > deadline) throw new Error(`gateways not linked to the ${workers} workers: ${JSON.stringify(healths.map(h => h?.workers))}`)
    await sleep(200)
  }
}

/** POST /api/upload of the picture the upscales take, to one gateway (the upload folder is every gateway's). */
export async function uploadPicture (sys: ChaosSystem): Promise<string> {
  const form = new FormData()
  form.append('file', new Blob([new Uint8Array(picturePng())]), 'picture.png')
  const res = await fetch(`${sys.baseUrl(sys.liveGateways()[0])}/api/upload`, { method: 'POST', body: form })
  const body = await res.json() as { name?: string }
  if (res.status !== 200 || body.name === undefined) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`)
  return body.name
}

/**
 * N jobs of the mix submitted over the live gateways (each try to a gateway picked at random),
 * while the monkey's events run at their share of the jobs ended; resolves once every job
 * in the database has ended (or none ended for stallMs), with the CPU use over that span.
 */
export async function runJobs (sys: ChaosSystem, plan: RunPlan, monkey: ChaosMonkey | null): Promise<RunResult> {
  const picture = await uploadPicture(sys)
  const meter = new CpuMeter(() => [
    ...sys.history.map(p => ({ pid: p.child.pid, role: p.name })),
    { pid: sys.redis.pid, role: 'redis' }
  ])
  let ended = 0
  let live = 0
  let lastMove = Date.now()
  let accepted = 0
  let polling = true
  const poll = (async () => {
    while (polling) {
      const now = await countEnded(sys).catch(() => null)
      if (now !== null) {
        if (now.ended !== ended) lastMove = Date.now()
        ended = now.ended
        live = now.live
      }
      await sleep(250)
    }
  })()
  const stalled = () => Date.now() - lastMove > plan.stallMs

  meter.start()
  const events = monkey?.run(async () => ended / plan.n, line => plan.say(`event: ${line}`))
  let reported = 0
  const answers = await submitAll(sys, {
    n: plan.n,
    clients: plan.clients,
    perSecond: Infinity,
    bodyOf: i => jobBody(i, picture),
    retry: plan.tries > 1 ? { tries: plan.tries, pauseMs: 500, keyOf: i => `${sys.queueName}-${i}` } : undefined,
    onAccepted: () => { accepted++ },
    onAnswered: () => {},
    admit: async () => {
      while (accepted - ended >= plan.backlog && !stalled()) await sleep(50)
      if (ended - reported >= plan.n / 10) { reported = ended; plan.say(`${ended} of ${plan.n} jobs ended`) }
    }
  })
  plan.say(`submits answered: ${answers.filter(a => a.status === 200).length} × 200 of ${plan.n}`)
  while ((live > 0 || (monkey?.pending ?? 0) > 0 || ended < accepted) && !stalled()) await sleep(250)
  if (stalled()) plan.say(`no job ended for ${plan.stallMs / 1000} s; measuring as it is`)
  polling = false
  await poll
  const cpu = meter.stop()
  await events
  return { answers, cpu }
}
