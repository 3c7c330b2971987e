// A/B of two gateways on the same machine, database and Redis: this checkout's against another
// checkout's (e.g. a worktree of main), in interleaved rounds so machine noise lands on both alike.
// Reports throughput, latency and gateway CPU per request for each.
//   npm run bench:ab -- <other checkout> [submit|status-redis|status-db] [connections] [rounds] [round ms]
// The other checkout needs its dependencies installed and its Prisma client generated.
// AB_OTHER_NODE_ARGS="--max-semi-space-size=64" gives the other gateway extra Node.js flags (same code, other flags).
// AB_OTHER_ENV="SUBMIT_GROUP_MAX=1 …" gives it extra environment (same code, other settings).
// AB_COMPILED=this|other|both runs that side's gateway compiled (its dist/, `npm run build` first), as
// `npm start` does; by default both run their sources through tsx. `npm run bench:ab -- . submit 16`
// with AB_COMPILED=other compares the two runtimes of this checkout.
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { Redis } from 'ioredis'
import { statusKey } from '@comfy-jobs/contracts'
import { TestSystem } from '../test/helpers/system.ts'
import { freePort } from '../test/helpers/ports.ts'
import { HttpClient } from './http-client.ts'
import { runRound, median } from './load.ts'
import { cpuMs } from './process-cpu.ts'

const [otherDir, kind = 'submit', conn = '64', roundsArg = '5', roundMsArg = '2000'] = process.argv.slice(2)
if (!otherDir || !['submit', 'status-redis', 'status-db'].includes(kind)) {
  console.error('usage: npm run bench:ab -- <other checkout> [submit|status-redis|status-db] [connections] [rounds] [round ms]')
  process.exit(2)
}
const connections = Number(conn)
const rounds = Number(roundsArg)
const roundMs = Number(roundMsArg)

async function waitForHealth (baseUrl: string): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (await fetch(`${baseUrl}/api/health`).then(() => true, () => false)) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`gateway at ${baseUrl} did not answer within 30 s`)
}

const compiled = process.env.AB_COMPILED ?? ''
if (!['', 'this', 'other', 'both'].includes(compiled)) throw new Error(`AB_COMPILED: expected this, other or both, got ${JSON.stringify(compiled)}`)
const otherEnv = Object.fromEntries((process.env.AB_OTHER_ENV ?? '').split(' ').filter(Boolean).map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
const cleanups: Array<() => unknown> = []
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'ab',
  logLevel: 'warn',
  compiled: compiled === 'this' || compiled === 'both',
  gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', DB_POOL_SIZE: '16' }
})
try {
  await sys.workers[0].kill('SIGKILL')
  const port = await freePort()
  const otherNodeArgs = (process.env.AB_OTHER_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const otherCompiled = compiled === 'other' || compiled === 'both'
  const entry = otherCompiled ? ['--conditions=comfy-jobs-compiled', 'services/gateway/dist/server.js'] : ['--import', 'tsx', 'services/gateway/src/server.ts']
  const other = spawn(process.execPath, [...otherNodeArgs, ...entry], {
    cwd: resolve(otherDir),
    env: { ...process.env, ...sys.gatewayEnv({ PORT: String(port), GATEWAY_GRPC_PORT: String(await freePort()), ...otherEnv }) },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  cleanups.push(() => other.kill('SIGKILL'))
  const otherUrl = `http://127.0.0.1:${port}`
  await waitForHealth(otherUrl)

  const sides = [
    { name: `this checkout${compiled === 'this' || compiled === 'both' ? ' (compiled)' : ''}`, pid: sys.gateway!.child.pid!, http: new HttpClient(sys.baseUrl, connections) },
    { name: `${resolve(otherDir)}${otherCompiled ? ' (compiled)' : ''}${otherNodeArgs.length ? ` (${otherNodeArgs.join(' ')})` : ''}${process.env.AB_OTHER_ENV ? ` (${process.env.AB_OTHER_ENV})` : ''}`, pid: other.pid!, http: new HttpClient(otherUrl, connections) }
  ]
  const ids: string[] = []
  if (kind !== 'submit') {
    await runRound(16, 2000, async i => { ids.push((await sides[0].http.post('/api/generate', { prompt: `ab ${i}`, seed: 1 })).job_id) })
    if (kind === 'status-db') {
      const redis = new Redis(sys.redisUrl)
      await redis.del(...ids.map(statusKey))
      redis.disconnect()
    }
  }
  const op = (http: HttpClient) => kind === 'submit'
    ? async (i: number) => { await http.post('/api/generate', { prompt: `ab ${i}`, seed: 1 }) }
    : async (i: number) => { await http.get(`/api/status/${ids[i % ids.length]}`) }
  for (const side of sides) await runRound(connections, 1000, op(side.http)) // warm-up
  const results = sides.map(() => ({ perSecond: [] as number[], p50: [] as number[], p99: [] as number[], cpu: [] as number[] }))
  for (let r = 0; r < rounds; r++) {
    for (const [i, side] of sides.entries()) {
      const before = cpuMs(side.pid)
      const round = await runRound(connections, roundMs, op(side.http))
      if (round.errors > 0) throw new Error(`${side.name}: ${round.errors} errors, first: ${round.firstError}`)
      results[i].perSecond.push(round.perSecond)
      results[i].p50.push(round.p50)
      results[i].p99.push(round.p99)
      results[i].cpu.push((cpuMs(side.pid) - before) / round.ops)
    }
  }
  console.log(`${kind} at ${connections} connections, medians of ${rounds} interleaved rounds of ${roundMs} ms:`)
  for (const [i, side] of sides.entries()) {
    const m = results[i]
    console.log(`  ${side.name}: ${Math.round(median(m.perSecond))}/s  p50 ${median(m.p50).toFixed(2)} ms  p99 ${median(m.p99).toFixed(2)} ms  gateway CPU ${median(m.cpu).toFixed(3)} ms/request`)
  }
  console.log(`  ratio this/other ops/s: ${(median(results[0].perSecond) / median(results[1].perSecond)).toFixed(2)}×`)
  for (const side of sides) await side.http.close()
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
