#!/usr/bin/env node
// `npm test [-- tap args]`: prepare the checkout, then run tap (configured by .taprc) and exit with
// its code. Extra arguments go to tap unchanged, e.g. `npm test -- test/end-to-end.test.ts` or
// `npm test -- --reporter=tap`. Preparation messages go to stderr; stdout is tap's alone.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join, resolve } from 'node:path'
import { prepare, root } from './prepare.mjs'

function note (line) {
  process.stderr.write(`test: ${line}\n`)
}

try {
  await prepare()
} catch (err) {
  note(`cannot prepare the checkout: ${err.message}`)
  process.exit(1)
}

// The integration tests need the shared MariaDB and Redis; say so up front rather than in 40 timeouts.
function reachable (host, port) {
  return new Promise(resolve => {
    const sock = createConnection({ host, port })
    const done = ok => { sock.destroy(); resolve(ok) }
    sock.setTimeout(1000, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}
const [db, redis] = await Promise.all([reachable('127.0.0.1', 3306), reachable('127.0.0.1', 6379)])
if (!db) note('warning: MariaDB does not answer on 127.0.0.1:3306; most tests will fail')
if (!redis) note('warning: Redis does not answer on 127.0.0.1:6379; most tests will fail')

// The real-ComfyUI group needs the comfyui-real folder (COMFYUI_REAL_DIR, by default
// ../shared/comfyui-real) and Debian's Python packages. Without the folder, outside CI, it is left out
// (and said so) rather than failing on every fresh clone; in CI it always runs.
const tapArgs = process.argv.slice(2)
const comfyuiReal = resolve(root, process.env.COMFYUI_REAL_DIR ?? '../shared/comfyui-real')
if (!existsSync(join(comfyuiReal, 'install.sh'))) {
  if (process.env.CI === 'true') {
    note(`warning: no real ComfyUI at ${comfyuiReal} (set COMFYUI_REAL_DIR); test/comfyui-real-*.test.ts will fail`)
  } else {
    note(`test/comfyui-real-*.test.ts not run: no real ComfyUI at ${comfyuiReal} (set COMFYUI_REAL_DIR to run them)`)
    tapArgs.push('--exclude=test/comfyui-real-*.test.ts')
  }
}

// The original pages' tests need their folder (ORIGINAL_FRONTEND_DIR, by default ../shared/original-frontend),
// with the same rule.
const originalFrontend = resolve(root, process.env.ORIGINAL_FRONTEND_DIR ?? '../shared/original-frontend')
if (!existsSync(join(originalFrontend, 'dashboard.html'))) {
  if (process.env.CI === 'true') {
    note(`warning: no original pages at ${originalFrontend} (set ORIGINAL_FRONTEND_DIR); test/original-*.test.ts will fail`)
  } else {
    note(`test/original-*.test.ts not run: no original pages at ${originalFrontend} (set ORIGINAL_FRONTEND_DIR to run them)`)
    tapArgs.push('--exclude=test/original-*.test.ts')
  }
}

const tap = join(root, 'node_modules', '.bin', 'tap')
if (!existsSync(tap)) {
  note(`${tap} is missing (is tap in the root devDependencies?)`)
  process.exit(1)
}

const child = spawn(tap, tapArgs, { cwd: root, stdio: 'inherit' })
// tap receives a terminal's Ctrl-C itself (same process group); a SIGTERM sent to this script alone
// is passed on so tap can end its test processes.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { try { child.kill(sig) } catch {} })
}
child.on('error', err => {
  note(`cannot run tap: ${err.message}`)
  process.exit(1)
})
child.on('exit', (code, signal) => {
  const signals = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
  process.exit(code ?? 128 + (signals[signal] ?? 1))
})
