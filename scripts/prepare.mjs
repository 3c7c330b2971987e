#!/usr/bin/env node
// Makes a checkout runnable: dependencies installed (pnpm, frozen lockfile), Prisma client generated,
// and optionally the database migrated. Plain Node, no dependencies: it runs before node_modules exists.
//
//   node scripts/prepare.mjs              install / generate only when out of date
//   node scripts/prepare.mjs --generate   always regenerate the Prisma client
//   node scripts/prepare.mjs --migrate    also create the database if absent and apply migrations
//
// Progress goes to stderr, so that `npm test` keeps a clean TAP stream on stdout.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync, utimesSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const root = dirname(dirname(fileURLToPath(import.meta.url)))

const paths = {
  lockfile: join(root, 'pnpm-lock.yaml'),
  modulesState: join(root, 'node_modules', '.modules.yaml'),
  schema: join(root, 'prisma', 'schema.prisma'),
  prismaConfig: join(root, 'prisma', 'prisma.config.ts'),
  prismaCli: join(root, 'packages', 'db', 'node_modules', '.bin', 'prisma'),
  // Any file of the generated client serves as its time stamp; client.ts is the entry point.
  generatedStamp: join(root, 'packages', 'db', 'src', 'generated', 'prisma', 'client.ts'),
  migrateCli: join(root, 'packages', 'db', 'src', 'cli.ts')
}

function log (line) {
  process.stderr.write(`prepare: ${line}\n`)
}

function mtime (file) {
  try { return statSync(file).mtimeMs } catch { return undefined }
}

function touch (file) {
  const now = new Date()
  try { utimesSync(file, now, now) } catch {}
}

/** Runs a command in the repository root; its output goes to stderr; throws on failure. */
function run (command, args, env = process.env) {
  const res = spawnSync(command, args, { cwd: root, env, stdio: ['ignore', 2, 2] })
  if (res.error) throw new Error(`${command}: ${res.error.message}`)
  if (res.status !== 0) {
    throw new Error(`${[command, ...args].join(' ')} exited with ${res.status ?? res.signal}`)
  }
}

/** `pnpm` when it is on PATH, else pnpm 10 through npx (corepack cannot verify signatures here). */
export function pnpmCommand () {
  const probe = spawnSync('pnpm', ['--version'], { stdio: 'ignore' })
  return probe.status === 0 ? ['pnpm'] : ['npx', '-y', 'pnpm@10']
}

export function depsOutOfDate () {
  const installed = mtime(paths.modulesState)
  return installed === undefined || installed < (mtime(paths.lockfile) ?? 0)
}

export function ensureDeps ({ force = false } = {}) {
  if (!force && !depsOutOfDate()) {
    log('dependencies up to date')
    return false
  }
  const [cmd, ...pre] = pnpmCommand()
  log(`installing dependencies (${[cmd, ...pre].join(' ')} install --frozen-lockfile)`)
  // confirmModulesPurge=false: never stop at pnpm's "remove node_modules?" prompt (no TTY in CI).
  run(cmd, [...pre, 'install', '--frozen-lockfile', '--config.confirmModulesPurge=false'])
  // pnpm leaves .modules.yaml alone when nothing changed; mark the install as current.
  touch(paths.modulesState)
  return true
}

export function clientOutOfDate () {
  const generated = mtime(paths.generatedStamp)
  if (generated === undefined) return true
  // The schema, the config, or a (re)install (which may bring another Prisma version) make it stale.
  return [paths.schema, paths.prismaConfig, paths.modulesState].some(f => (mtime(f) ?? 0) > generated)
}

export function ensureClient ({ force = false } = {}) {
  if (!force && !clientOutOfDate()) {
    log('Prisma client up to date')
    return false
  }
  if (!existsSync(paths.prismaCli)) throw new Error(`${paths.prismaCli} is missing: dependencies are not installed`)
  log('generating the Prisma client (packages/db/src/generated/prisma)')
  const env = {
    ...process.env,
    // The CLI wants a schema engine it cannot download here; generate never runs it, any file will do.
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1'
  }
  run(paths.prismaCli, ['generate', '--config', 'prisma/prisma.config.ts'], env)
  touch(paths.generatedStamp)
  return true
}

export function migrate () {
  if (!existsSync(paths.migrateCli)) throw new Error(`${paths.migrateCli} is missing`)
  log('applying migrations (packages/db/src/cli.ts migrate)')
  run(process.execPath, ['--import', 'tsx', paths.migrateCli, 'migrate'])
}

/**
 * Installs what is missing and generates what is stale. Throws an Error with a one-line message
 * when a step fails.
 */
export async function prepare ({ generate = false, migrate: doMigrate = false } = {}) {
  ensureDeps()
  ensureClient({ force: generate })
  if (doMigrate) migrate()
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const unknown = args.filter(a => a !== '--generate' && a !== '--migrate')
  if (unknown.length) {
    process.stderr.write(`usage: node scripts/prepare.mjs [--generate] [--migrate]\nunknown: ${unknown.join(' ')}\n`)
    process.exit(2)
  }
  try {
    await prepare({ generate: args.includes('--generate'), migrate: args.includes('--migrate') })
    log('ready')
  } catch (err) {
    log(`failed: ${err.message}`)
    process.exit(1)
  }
}
