// What API keys cost a status read (issue 13): the same jobs read through two gateways on the same
// database and Redis — one with AUTH=off (the floor), one with AUTH=required and an owner's key
// (a cached key lookup, the owner check against the status hash) — in interleaved rounds.
//   npm run bench:auth -- [connections] [rounds] [round ms]
// Target: the p50 of a status read with auth is at most 0.1 ms above the floor's.
import { TestSystem } from '../test/helpers/system.ts'
import { ServiceProcess } from '../test/helpers/service-process.ts'
import { freePort } from '../test/helpers/ports.ts'
import { runCli } from '../test/helpers/cli-process.ts'
import { HttpClient } from './http-client.ts'
import { median, runRound } from './load.ts'
import { cpuMs } from './process-cpu.ts'

const [conn = '1', roundsArg = '7', roundMsArg = '2000'] = process.argv.slice(2)
const connections = Number(conn)
const TARGET_MS = 0.1

const cleanups: Array<() => unknown> = []
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'bench_auth',
  logLevel: 'warn',
  gatewayEnv: { AUTH: 'off', SUBMIT_RATE_LIMIT_PER_MINUTE: '0' }
})
try {
  await sys.workers[0].kill('SIGKILL') // the jobs stay queued: every read is the same cached hash
  const made = await runCli(['keys', 'create', '--owner', 'bench', '--scopes', 'submit,read', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
  if (made.code !== 0) throw new Error(`keys create: ${made.stderr}`)
  const { secret } = JSON.parse(made.stdout)
  const port = await freePort()
  const keyed = new ServiceProcess('gateway', sys.gatewayEnv({ AUTH: 'required', PORT: String(port), GATEWAY_GRPC_PORT: String(await freePort()), LOG_LEVEL: 'info' }))
  cleanups.push(() => keyed.kill('SIGKILL'))
  await keyed.waitForLog(l => l.msg === 'gateway ready', 120_000)

  const open = new HttpClient(sys.baseUrl, connections)
  const withKey = new HttpClient(`http://127.0.0.1:${port}`, connections, { authorization: `Bearer ${secret}` })
  const ids: string[] = []
  await runRound(4, 1000, async i => { ids.push((await withKey.post('/api/generate', { prompt: `bench ${i}`, seed: 1 })).job_id) })
  // Interleaved rounds; besides latency, each gateway's CPU per read (from /proc), which a loaded
  // machine disturbs far less than latency: what authentication itself costs.
  const sides = [
    { name: 'AUTH=off (floor)', pid: sys.gateway!.child.pid!, op: async (i: number) => { await open.get(`/api/status/${ids[i % ids.length]}`) } },
    { name: 'AUTH=required, owner key', pid: keyed.child.pid!, op: async (i: number) => { await withKey.get(`/api/status/${ids[i % ids.length]}`) } }
  ].map(side => ({ ...side, p50: [] as number[], p99: [] as number[], perSecond: [] as number[], cpu: [] as number[] }))
  for (const side of sides) await runRound(connections, 500, side.op) // warm-up
  for (let r = 0; r < Number(roundsArg); r++) {
    for (const side of sides) {
      const before = cpuMs(side.pid)
      const round = await runRound(connections, Number(roundMsArg), side.op)
      if (round.errors > 0) throw new Error(`${side.name}: ${round.errors} errors, first: ${round.firstError}`)
      side.p50.push(round.p50)
      side.p99.push(round.p99)
      side.perSecond.push(round.perSecond)
      side.cpu.push((cpuMs(side.pid) - before) / round.ops)
    }
  }
  const [floor, auth] = sides.map(s => ({ name: s.name, p50: median(s.p50), p99: median(s.p99), perSecond: median(s.perSecond), cpu: median(s.cpu) }))
  console.log(`status read at ${connections} connection(s), ${ids.length} jobs, medians of ${roundsArg} interleaved rounds of ${roundMsArg} ms:`)
  for (const r of [floor, auth]) console.log(`  ${r.name}: ${Math.round(r.perSecond)}/s  p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  gateway CPU ${r.cpu.toFixed(3)} ms/read`)
  console.log(`  auth adds ${(auth.cpu - floor.cpu).toFixed(3)} ms of gateway CPU per read`)
  const added = auth.p50 - floor.p50
  console.log(`  auth adds ${added.toFixed(3)} ms to the p50 (target ≤ ${TARGET_MS} ms): ${added <= TARGET_MS ? 'PASS' : 'FAIL'}`)
  await open.close()
  await withKey.close()
  process.exitCode = added <= TARGET_MS ? 0 : 1
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
