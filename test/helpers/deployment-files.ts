// compose.yaml and the Dockerfile as data, for test/deployment.test.ts (Docker cannot run here).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

type Env = Record<string, string | undefined>

/**
 * Compose's interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$$`.
 * `vars` plays the shell environment and the .env file. A required variable that is missing throws,
 * as `docker compose` would.
 */
export function interpolate (text: string, vars: Env): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (whole, name?: string, colon?: string, op?: string, arg?: string) => {
    if (whole === '$$') return '$'
    const value = vars[name!]
    const missing = value === undefined || (colon === ':' && value === '')
    if (op === '-') return missing ? interpolate(arg ?? '', vars) : value!
    if (op === '?') {
      if (missing) throw new Error(`compose.yaml: ${name} is required: ${arg}`)
      return value!
    }
    return value ?? ''
  })
}

export interface ComposeService {
  image?: string
  build?: { context: string, target?: string }
  command?: string[]
  environment?: Record<string, string | number | boolean | null>
  ports?: string[]
  expose?: string[]
  volumes?: string[]
  healthcheck?: { test: string[] }
  depends_on?: Record<string, { condition: string }>
  profiles?: string[]
  stop_grace_period?: string
}

export interface ComposeFile {
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
}

/** compose.yaml, interpolated with `vars`, merge keys (`<<: *anchor`) applied as compose does. */
export function readCompose (vars: Env, file = join(ROOT, 'compose.yaml')): ComposeFile {
  return parse(interpolate(readFileSync(file, 'utf8'), vars), { merge: true }) as ComposeFile
}

/** A service's environment as its process sees it: strings, compose's null (`VAR:` with no value) as unset. */
export function serviceEnv (service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(service.environment ?? {})) if (value !== null) env[name] = String(value)
  return env
}

/** `KEY=value` lines of an env file (comments and blanks skipped), as compose reads `.env`. */
export function readEnvFile (file: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (m) vars[m[1]] = m[2].trim()
  }
  return vars
}

export interface Instruction {
  keyword: string
  args: string
  /** exec form (`["node", "x.js"]`) parsed; null for the shell form */
  exec: string[] | null
}

export interface Stage {
  name: string
  /** the image or earlier stage it starts from */
  from: string
  instructions: Instruction[]
}

/** The Dockerfile's stages, continuation lines joined, comments dropped. */
export function readDockerfile (file = join(ROOT, 'Dockerfile')): Stage[] {
  const lines = readFileSync(file, 'utf8').replace(/\\\n/g, ' ').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^(\w+)\s+(.*)$/.exec(line)
    if (!m) throw new Error(`Dockerfile: cannot read ${JSON.stringify(line)}`)
    const keyword = m[1].toUpperCase()
    const args = m[2].replace(/\s+/g, ' ').trim()
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      if (!from) throw new Error(`Dockerfile: cannot read FROM ${args}`)
      stages.push({ name: from[2] ?? String(stages.length), from: from[1], instructions: [] })
      continue
    }
    if (keyword === 'ARG' && stages.length === 0) continue
    const stage = stages.at(-1)
    if (!stage) throw new Error(`Dockerfile: ${keyword} before the first FROM`)
    // CMD ["…"] and HEALTHCHECK [options] CMD ["…"]
    const execArgs = /^(?:.*?\bCMD )?(\[.*\])$/.exec(args)
    stage.instructions.push({ keyword, args, exec: execArgs && keyword !== 'RUN' && keyword !== 'COPY' ? JSON.parse(execArgs[1]) as string[] : null })
  }
  return stages
}

/** A stage and the stages it is built on, the base first. */
export function stageChain (stages: Stage[], name: string): Stage[] {
  const stage = stages.find(s => s.name === name)
  if (!stage) throw new Error(`Dockerfile: no stage ${name}`)
  const base = stages.some(s => s.name === stage.from) ? stageChain(stages, stage.from) : []
  return [...base, stage]
}

/** `ENV A=1 B=2` of a chain of stages, later ones winning, as the container starts with them. */
export function chainEnv (chain: Stage[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const i of chain.flatMap(s => s.instructions).filter(i => i.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '')
  }
  return env
}

/** The last instruction of a kind in a chain (what the image ends up with: USER, CMD, HEALTHCHECK). */
export function lastOf (chain: Stage[], keyword: string): Instruction | undefined {
  return chain.flatMap(s => s.instructions).filter(i => i.keyword === keyword).at(-1)
}
