// `comfy-jobs generate "..." --wait -o file` against a running system: exit 0, a progress bar fed by
// the SSE stream, and a valid PNG of the requested size on disk.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestSystem } from './helpers/system.ts'
import { pngSize } from './helpers/png.ts'
import { runCli as cli } from './helpers/cli-process.ts'

t.test('the CLI', async t => {
  const sys = await TestSystem.start(t, { name: 'cli', workers: 1 })
  await sys.waitForWorkersConnected()
  const dir = await mkdtemp(join(tmpdir(), 'cj-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  t.test('generate --wait -o saves the image', async t => {
    const file = join(dir, 'cat.png')
    const run = await cli(['generate', 'a red cat', '--wait', '-o', file, '--aspect-ratio', '2:3', '--seed', '7', '--url', sys.baseUrl])
    t.equal(run.code, 0, `exit 0 (stderr: ${run.stderr.slice(-300)})`)
    const jobId = run.stdout.trim()
    t.match(jobId, /^[0-9a-f-]{36}$/, 'prints the job id')
    t.same(pngSize(await readFile(file)), { width: 832, height: 1248 }, 'a valid 2:3 PNG')
    const served = Buffer.from(await (await fetch(`${sys.baseUrl}/outputs/${jobId}.png`)).arrayBuffer())
    t.ok((await readFile(file)).equals(served), 'the same bytes the gateway serves')
    const bars = run.stderr.split('\n').filter(l => l.startsWith('['))
    t.ok(bars.some(l => / processing step [1-3]\/4 render$/.test(l)), 'the bar showed steps as they happened')
    t.match(bars.at(-1), /100% finished step 4\/4$/, 'and ended at 100 %')
    t.match(run.stderr, new RegExp(`saved ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    const row = await sys.row(jobId)
    t.equal(row.prompt, 'a red cat')
  })

  t.test('every output is saved: under its own name, or -o\'s name with its index', async t => {
    const run = await cli(['generate', 'two cats', '--batch-size', '2', '--wait', '--url', sys.baseUrl], { cwd: dir })
    t.equal(run.code, 0, run.stderr.slice(-300))
    const jobId = run.stdout.trim()
    for (const i of [0, 1]) {
      const served = Buffer.from(await (await fetch(`${sys.baseUrl}/outputs/${jobId}_${i}.png`)).arrayBuffer())
      t.ok((await readFile(join(dir, `${jobId}_${i}.png`))).equals(served), `${jobId}_${i}.png is output ${i}`)
    }
    const named = await cli(['generate', 'two dogs', '--batch-size', '2', '-o', join(dir, 'dogs.png'), '--url', sys.baseUrl])
    t.equal(named.code, 0)
    t.same(pngSize(await readFile(join(dir, 'dogs_1.png'))), { width: 1024, height: 1024 }, 'dogs_0.png and dogs_1.png')
  })

  t.test('without --wait it prints the job id and returns', async t => {
    const run = await cli(['generate', 'fire and forget', '--url', sys.baseUrl])
    t.equal(run.code, 0)
    t.equal((await sys.status(run.stdout.trim())).status, 200, 'the job exists')
  })

  t.test('bad usage and refusals have their own exit codes and say why', async t => {
    const usage = await cli(['generate'])
    t.equal(usage.code, 2)
    t.match(usage.stderr, /Usage: comfy-jobs generate/)
    const refused = await cli(['generate', 'x', '--aspect-ratio', '5:4', '--url', sys.baseUrl])
    t.equal(refused.code, 3)
    t.match(refused.stderr, /aspect_ratio must be one of 1:1, 16:9, 9:16, 2:3/)
    const nobody = await cli(['generate', 'x', '--url', 'http://127.0.0.1:9'])
    t.equal(nobody.code, 3)
    t.match(nobody.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:9\//)
  })
})
