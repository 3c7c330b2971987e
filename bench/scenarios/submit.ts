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
        const cpuBefore = cpuMs(gatewayPid)
        const r = await interleave({ concurrency, ...plan }, [
          { name: 'system', op: async i => { await http.post('/api/generate', { prompt: `bench ${i}`, seed: 1 }); accepted++ } },
          { name: 'floor', op: () => floor.submit() }
        ])
        const gatewayCpuMsPerSubmit = (cpuMs(gatewayPid) - cpuBefore) / accepted
        results.push({ concurrency, system: r.get('system')!, floor: r.get('floor')!, gatewayCpuMsPerSubmit })
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
