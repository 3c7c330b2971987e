import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'

function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
  } catch {
    return 100
  }
}

/** user + system CPU seconds of a process from /proc/<pid>/stat; null once it is gone. */
function cpuSecondsOf (pid: number, ticks: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / ticks
  } catch {
    return null
  }
}

/** The machine's busy and total CPU time so far (all cores, every process on it), from /proc/stat. */
function machineTicks (): { busy: number, total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = cpu.reduce((a, b) => a + b, 0)
  const idle = cpu[3] + (cpu[4] ?? 0)
  return { busy: total - idle, total }
}

export interface Tracked { pid: number | undefined, role: string }

export interface CpuFigures {
  /** CPU seconds by role over the measured span */
  byRole: Record<string, number>
  seconds: number
  /** share of all the machine's cores busy over the span (every process, other users' too) */
  machineBusy: number
  load: { start: number, mean: number, max: number, end: number }
}

/**
 * CPU use of the run's processes, read from /proc every half second (a process killed with -9 is
 * counted up to its last reading, so at most half a second of it is missed), with the machine's
 * load average and busy share over the same span. This process is the 'client' role.
 */
export class CpuMeter {
  readonly #ticks = clockTicks()
  readonly #tracked: () => Tracked[]
  /** pid → role and its last reading */
  readonly #last = new Map<number, { role: string, seconds: number }>()
  /** what the processes running at start() had used before it (a process started later counts from 0) */
  readonly #before = new Map<number, number>()
  readonly #loads: number[] = []
  #timer: NodeJS.Timeout | null = null
  #started = 0
  #machine0 = { busy: 0, total: 0 }
  #client0 = 0

  constructor (tracked: () => Tracked[]) {
    this.#tracked = tracked
  }

  start (): void {
    this.#started = Date.now()
    this.#machine0 = machineTicks()
    this.#client0 = this.#clientSeconds()
    this.#sample()
    for (const [pid, { seconds }] of this.#last) this.#before.set(pid, seconds)
    this.#timer = setInterval(() => this.#sample(), 500)
  }

  stop (): CpuFigures {
    this.#sample()
    if (this.#timer !== null) clearInterval(this.#timer)
    const machine = machineTicks()
    const byRole: Record<string, number> = {}
    for (const [pid, { role, seconds }] of this.#last) byRole[role] = (byRole[role] ?? 0) + seconds - (this.#before.get(pid) ?? 0)
    byRole.client = this.#clientSeconds() - this.#client0
    const loads = this.#loads
    return {
      byRole,
      seconds: (Date.now() - this.#started) / 1000,
      machineBusy: (machine.busy - this.#machine0.busy) / Math.max(1, machine.total - this.#machine0.total),
      load: { start: loads[0], mean: loads.reduce((a, b) => a + b, 0) / loads.length, max: Math.max(...loads), end: loads[loads.length - 1] }
    }
  }

  #clientSeconds (): number {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1e6
  }

  #sample (): void {
    this.#loads.push(loadavg()[0])
    for (const { pid, role } of this.#tracked()) {
      if (pid === undefined) continue
      const seconds = cpuSecondsOf(pid, this.#ticks)
      if (seconds !== null) this.#last.set(pid, { role, seconds })
    }
  }
}
