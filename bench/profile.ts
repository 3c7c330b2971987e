// Where the gateway's CPU goes under one kind of load: runs the gateway with --cpu-prof, drives it,
// stops it gracefully (the profile is written at exit) and prints self time by package and the top
// functions.
//   npm run bench:profile -- submit|status-redis|status-db [seconds=8] [connections=64]
//   (BENCH_RUNTIME=compiled profiles the compiled gateway, `npm run build` first: no tsx in the profile)
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { statusKey } from '@comfy-jobs/contracts'
import { TestSystem } from '../test/helpers/system.ts'
import { HttpClient } from './http-client.ts'
import { runRound } from './load.ts'
import { cpuMs } from './process-cpu.ts'

const KINDS = ['submit', 'status-redis', 'status-db'] as const
type Kind = typeof KINDS[number]

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}
interface CpuProfile { nodes: ProfileNode[], startTime: number, samples: number[], timeDeltas: number[] }

/** Now on the clock V8 stamps profiles with (CLOCK_MONOTONIC, shared by every process), in µs. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

/** The package a script belongs to: `pkg` from node_modules, `ours:<dir>` for the repo, `node:` internals. */
function owner (url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  const m = /\/(services\/[^/]+|packages\/[^/]+)\/(src\/generated)?/.exec(url)
  if (m) return m[2] ? `${m[1]} (generated Prisma client)` : `ours: ${m[1]}`
  return url.replace(/^file:\/\//, '')
}

/** Self time by package and function; with `window` (µs, monotonic), only the samples taken in it (start-up left out). */
export function summarise (profile: CpuProfile, top = 25, window?: { from: number, to: number }): string {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const self = new Map<number, number>()
  let at = profile.startTime
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0
    if (window && (at < window.from || at > window.to)) return
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  })
  let total = 0
  const byOwner = new Map<string, number>()
  const byFn = new Map<string, number>()
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    if (functionName === '(idle)') continue
    total += us
    const o = owner(url, functionName)
    byOwner.set(o, (byOwner.get(o) ?? 0) + us)
    const f = `${functionName || '(anonymous)'} ${o}:${lineNumber + 1}`
    byFn.set(f, (byFn.get(f) ?? 0) + us)
  }
  const pct = (us: number) => `${(100 * us / total).toFixed(1).padStart(5)} %`
  const lines = [`busy CPU ${(total / 1e6).toFixed(2)} s (idle excluded)`, '', 'self time by package:']
  for (const [o, us] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${o}`)
  lines.push('', 'top functions by self time:')
  for (const [f, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${f}`)
  return lines.join('\n')
}

const kind = process.argv[2] as Kind
if (!KINDS.includes(kind)) {
  console.error(`usage: npm run bench:profile -- ${KINDS.join('|')} [seconds] [connections]`)
  process.exit(2)
}
const seconds = Number(process.argv[3] ?? 8)
const connections = Number(process.argv[4] ?? (kind === 'submit' ? 64 : 16))
const dir = await mkdtemp(join(tmpdir(), 'comfy-jobs-prof-'))
const cleanups: Array<() => unknown> = []
const sys = await TestSystem.start({ teardown: fn => cleanups.push(fn) }, {
  name: 'profile',
  logLevel: 'warn',
  compiled: process.env.BENCH_RUNTIME === 'compiled',
  gatewayEnv: { SUBMIT_RATE_LIMIT_PER_MINUTE: '0', DB_POOL_SIZE: '16' },
  gatewayNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`]
})
try {
  await sys.workers[0].kill('SIGKILL') // only the gateway's own path is measured
  const http = new HttpClient(sys.baseUrl, connections)
  const ids: string[] = []
  if (kind !== 'submit') {
    await runRound(16, 2000, async i => { ids.push((await http.post('/api/generate', { prompt: `profile ${i}`, seed: 1 })).job_id) })
    if (kind === 'status-db') {
      const redis = new Redis(sys.redisUrl)
      await redis.del(...ids.map(statusKey))
      redis.disconnect()
    }
  }
  const op = kind === 'submit'
    ? async (i: number) => { await http.post('/api/generate', { prompt: `profile ${i}`, seed: 1 }) }
    : async (i: number) => { await http.get(`/api/status/${ids[i % ids.length]}`) }
  const pid = sys.gateway!.child.pid!
  const cpuBefore = cpuMs(pid)
  const from = monotonicUs()
  const r = await runRound(connections, seconds * 1000, op)
  const to = monotonicUs()
  const cpuPerOp = (cpuMs(pid) - cpuBefore) / r.ops
  console.log(`${kind} at ${connections} connections: ${Math.round(r.perSecond)}/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}; gateway CPU ${cpuPerOp.toFixed(3)} ms per request`)
  await http.close()
  await sys.gateway!.kill('SIGTERM')
  // one file per thread; the main thread's is the largest
  const files = await Promise.all((await readdir(dir)).filter(f => f.endsWith('.cpuprofile')).map(async f => ({ f, size: (await stat(join(dir, f))).size })))
  const file = files.sort((a, b) => b.size - a.size)[0]?.f
  if (!file) throw new Error(`no .cpuprofile written in ${dir}`)
  console.log(`profile: ${join(dir, file)} (open in Chrome DevTools); below, only the samples taken under load\n`)
  console.log(summarise(JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile, 25, { from, to }))
} finally {
  for (const fn of cleanups.reverse()) await fn()
}
