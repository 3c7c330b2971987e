import { createTestDatabase } from '../../test/helpers/database.ts'
import { measureTransactionOverhead } from '../../test/helpers/submit-overhead.ts'
import type { TestSystem } from '../../test/helpers/system.ts'
import { HttpClient } from '../http-client.ts'
import { interleave, type VariantSummary } from '../load.ts'
import { SubmitFloor } from '../submit-floor.ts'
import { cpuMs } from '../process-cpu.ts'

export interface SubmitResult {
  concurrency: number
  system: VariantSummary
  floor: VariantSummary
  /** the gateway process's CPU time per accepted submit over this concurrency's rounds */
  gatewayCpuMsPerSubmit: number
  /** group commit over this concurrency's rounds: groups by size bucket (le → groups), mean submits per group */
  groups: { count: number, meanSize: number, buckets: Array<{ le: string, groups: number }> }
}

/** The gateway's comfy_jobs_submit_group_size histogram: cumulative bucket counts, sum and count. */
async function groupHistogram (baseUrl: string): Promise<{ buckets: Map<string, number>, sum: number, count: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text()
  const buckets = new Map<string, number>()
  for (const m of text.matchAll(/^comfy_jobs_submit_group_size_bucket\{le="([^"]+)"\} (\S+)$/gm)) buckets.set(m[1], Number(m[2]))
  const value = (name: string) => Number(new RegExp(`^comfy_jobs_submit_group_size_${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0)
  return { buckets, sum: value('sum'), count: value('count') }
}

function groupsBetween (before: Awaited<ReturnType<typeof groupHistogram>>, after: Awaited<ReturnType<typeof groupHistogram>>): SubmitResult['groups'] {
  const count = after.count - before.count
  let below = 0
  const buckets: SubmitResult['groups']['buckets'] = []
  for (const [le, cumulative] of after.buckets) {
    const upTo = cumulative - (before.buckets.get(le) ?? 0)
    buckets.push({ le, groups: upTo - below })
    below = upTo
  }
  return { count, meanSize: count > 0 ? (after.sum - before.sum) / count : NaN, buckets }
}

export interface RoundPlan { rounds: number, roundMs: number }

/** POST /api/generate against the bare mysql2 + BullMQ floor, at each concurrency. */
export async function benchSubmit (sys: TestSystem, plan: RoundPlan, concurrencies: number[], floorPoolSize: number): Promise<SubmitResult[]> {
  const floorDb = await createTestDatabase('bench_floor')
  const floor = await SubmitFloor.open({ loc: floorDb.loc, systemDatabase: sys.db.loc.database, redisUrl: sys.redisUrl, queueName: `${sys.queueName}-floor`, poolSize: floorPoolSize })
  const results: SubmitResult[] = []
  try {
    for (const concurrency of concurrencies) {
      const http = new HttpClient(sys.baseUrl, concurrency)
      const gatewayPid = sys.gateway!.child.pid!
      let accepted = 0
      try {
        const groupsBefore = await groupHistogram(sys.baseUrl)
        const cpuBefore = cpuMs(gatewayPid)
        const r = await interleave({ concurrency, ...plan }, [
          { name: 'system', op: async i => { await http.post('/api/generate', { prompt: `bench ${i}`, seed: 1 }); accepted++ } },
          { name: 'floor', op: () => floor.submit() }
        ])
        const gatewayCpuMsPerSubmit = (cpuMs(gatewayPid) - cpuBefore) / accepted
        const groups = groupsBetween(groupsBefore, await groupHistogram(sys.baseUrl))
        results.push({ concurrency, system: r.get('system')!, floor: r.get('floor')!, gatewayCpuMsPerSubmit, groups })
      } finally {
        await http.close()
      }
    }
  } finally {
    await floor.close()
    await floorDb.drop()
  }
  return results
}

/** The seed's metric: the gateway's submit steps with and without the transaction (ms, mean). */
export function benchTransactionOverhead (sys: TestSystem, rounds: number) {
  return measureTransactionOverhead({ databaseUrl: sys.db.url, redisUrl: sys.redisUrl, queueName: `${sys.queueName}-overhead`, rounds })
}
