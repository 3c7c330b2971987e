/** Closed-loop load: `concurrency` callers each run `op` back to back for `durationMs`. */
export interface RoundResult {
  ops: number
  errors: number
  seconds: number
  perSecond: number
  p50: number
  p99: number
  /** the first error seen, so a failing scenario says why */
  firstError?: string
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

export function median (xs: number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 0.5)
}

export async function runRound (concurrency: number, durationMs: number, op: (i: number) => Promise<void>): Promise<RoundResult> {
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  let n = 0
  const started = performance.now()
  const end = started + durationMs
  const caller = async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      try {
        await op(n++)
        latencies.push(performance.now() - t0)
      } catch (err) {
        errors++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return { ops: latencies.length, errors, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), firstError }
}

export interface Variant {
  name: string
  op: (i: number) => Promise<void>
}

export interface VariantSummary {
  name: string
  /** medians over rounds */
  perSecond: number
  p50: number
  p99: number
  errors: number
  rounds: RoundResult[]
}

/**
 * Each round runs every variant once, one after the other, so machine noise lands on all of them
 * alike; a short untimed warm-up first. Reports the median of the rounds.
 */
export async function interleave (opts: { concurrency: number, rounds: number, roundMs: number }, variants: Variant[]): Promise<Map<string, VariantSummary>> {
  for (const v of variants) await runRound(opts.concurrency, Math.min(500, opts.roundMs), v.op)
  const rounds = new Map<string, RoundResult[]>(variants.map(v => [v.name, []]))
  for (let r = 0; r < opts.rounds; r++) {
    for (const v of variants) rounds.get(v.name)!.push(await runRound(opts.concurrency, opts.roundMs, v.op))
  }
  return new Map(variants.map(v => {
    const rs = rounds.get(v.name)!
    return [v.name, {
      name: v.name,
      perSecond: median(rs.map(r => r.perSecond)),
      p50: median(rs.map(r => r.p50)),
      p99: median(rs.map(r => r.p99)),
      errors: rs.reduce((s, r) => s + r.errors, 0),
      rounds: rs
    }]
  }))
}
