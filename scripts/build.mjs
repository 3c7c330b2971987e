#!/usr/bin/env node
// `npm run build`: compiles the services and the packages they use from TypeScript to JavaScript,
// each src/ into its dist/ (tsc -b tsconfig.build.json; incremental, so an up-to-date tree costs only
// the check). `npm start` and the image run the compiled code; tsx runs the sources in development
// and tests. Run the result with `node --conditions=comfy-jobs-compiled services/<name>/dist/server.js`:
// the condition makes `@comfy-jobs/*` imports resolve to the packages' dist/ instead of their src/.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { root } from './prepare.mjs'

export const COMPILED_CONDITION = 'comfy-jobs-compiled'

/** The node arguments that run a service's compiled entry point. */
export function compiledEntry (service) {
  return [`--conditions=${COMPILED_CONDITION}`, join(root, 'services', service, 'dist', 'server.js')]
}

/** Brings every dist/ up to date; throws with a one-line message when the compiler reports errors. */
export function build () {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  process.stderr.write('build: compiling to dist/ (tsc -b tsconfig.build.json)\n')
  const res = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] })
  if (res.error) throw new Error(`tsc: ${res.error.message}`)
  if (res.status !== 0) throw new Error(`tsc -b tsconfig.build.json exited with ${res.status ?? res.signal}`)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    build()
  } catch (err) {
    process.stderr.write(`build: failed: ${err.message}\n`)
    process.exit(1)
  }
}
