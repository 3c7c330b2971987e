import { readFileSync } from 'node:fs'

// /proc/<pid>/stat counts in clock ticks; USER_HZ is 100 on Linux
const TICK_MS = 10

/** CPU time (user + system) a process has used so far, in ms, from /proc. */
export function cpuMs (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // fields after the ")" that closes the command name: state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}
