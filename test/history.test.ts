// GET /api/history: the original's shape and field names, the real total, newest first, limit capped
// at 100, and a `before` cursor whose pages neither repeat nor skip jobs while new ones arrive.
import t from 'tap'
import { v7 as uuidv7 } from 'uuid'
import { TestSystem } from './helpers/system.ts'

const FIELDS = ['id', 'prompt', 'workflow', 'model', 'aspect_ratio', 'batch_size', 'seed', 'status', 'created_at', 'updated_at', 'output_path', 'error']

t.test('history', async t => {
  // no worker: jobs submitted here stay queued, which is all history needs
  const sys = await TestSystem.start(t, { name: 'history', workers: 0 })
  const get = async (query: string) => {
    const res = await fetch(`${sys.baseUrl}/api/history${query}`)
    return { status: res.status, body: await res.json() as any }
  }

  // 250 jobs written straight to the database, one millisecond apart, oldest first
  const base = Date.now() - 3_600_000
  const ids: string[] = []
  const rows = Array.from({ length: 250 }, (_x, i) => {
    const id = uuidv7({ msecs: base + i })
    ids.push(id)
    const at = new Date(base + i)
    const params = JSON.stringify({ aspect_ratio: '16:9', width: 1216, height: 832, seed: i, batch_size: 1 })
    return [id, i % 3 === 0 ? 'finished' : 'queued', 'text_to_image', 'turbo_fp8', `prompt ${i}`, params, at, at]
  })
  await sys.db.pool.query('INSERT INTO jobs (id, status, workflow, model, prompt, params, created_at, updated_at) VALUES ?', [rows])
  await sys.db.pool.query('INSERT INTO outputs (job_id, idx, filename, mime, width, height, bytes, sha256) VALUES (?, 0, ?, ?, 1216, 832, 1234, ?)',
    [ids[249], `${ids[249]}.png`, 'image/png', 'a'.repeat(64)])
  const newestFirst = [...ids].reverse()

  t.test('pages of 100 are 100/100/50 with the real total, newest first', async t => {
    const pages = []
    for (const offset of [0, 100, 200]) pages.push((await get(`?limit=100&offset=${offset}`)).body)
    t.same(pages.map(p => p.jobs.length), [100, 100, 50])
    t.same(pages.map(p => p.total), [250, 250, 250], 'total is every job, not the page length')
    t.same(pages.map(p => [p.limit, p.offset]), [[100, 0], [100, 100], [100, 200]])
    t.same(pages.flatMap(p => p.jobs.map((j: any) => j.id)), newestFirst, 'all 250, newest first, no duplicates or gaps')
    const newest = pages[0].jobs[0]
    t.same(Object.keys(newest).sort(), [...FIELDS].sort(), 'the original\'s field names')
    t.match(newest, { prompt: 'prompt 249', workflow: 'text_to_image', model: 'turbo_fp8', aspect_ratio: '16:9', batch_size: 1, seed: 249, status: 'finished', output_path: `/outputs/${ids[249]}.png`, error: null })
    t.equal(pages[0].jobs[1].output_path, null, 'no output yet: null')
    t.equal(pages[2].next_before, null, 'the last page has no next cursor')
  })

  t.test('the default page is 50 and limit is capped at 100', async t => {
    const def = await get('')
    t.equal(def.body.jobs.length, 50)
    t.equal(def.body.limit, 50)
    const big = await get('?limit=500')
    t.equal(big.status, 200)
    t.equal(big.body.limit, 100, 'capped, as the original did')
    t.equal(big.body.jobs.length, 100)
  })

  t.test('bad paging input is a 400 naming the field', async t => {
    for (const [query, field] of [['?limit=0', 'limit'], ['?limit=abc', 'limit'], ['?offset=-1', 'offset'], ['?before=xyz', 'before'], ['?before=01900000-0000-7000-8000-000000000000', 'before']]) {
      const res = await get(query)
      t.equal(res.status, 400, `${query}: 400`)
      t.match(res.body.error, new RegExp(field), `${query}: names ${field}`)
    }
  })

  t.test('the before cursor stays put while new jobs arrive; offsets shift', async t => {
    const page1 = (await get('?limit=100')).body
    const arriving: string[] = []
    for (let i = 0; i < 30; i++) {
      const res = await sys.submit({ prompt: `arrives during paging ${i}` })
      t.equal(res.status, 200)
      arriving.push(res.body.job_id)
    }
    const byOffset = (await get('?limit=100&offset=100')).body
    const overlap = byOffset.jobs.filter((j: any) => page1.jobs.some((k: any) => k.id === j.id)).length
    t.equal(overlap, 30, 'with offsets, the 30 new jobs push 30 already-seen jobs onto page 2 again')

    const collected = [...page1.jobs]
    let cursor = page1.next_before
    while (cursor) {
      const page = (await get(`?limit=100&before=${cursor}`)).body
      collected.push(...page.jobs)
      cursor = page.next_before
      if (page.jobs.length > 0) await sys.submit({ prompt: 'another one mid-paging' })
    }
    t.same(collected.map(j => j.id), newestFirst, 'cursor pages: the 250 jobs exactly once each, in order')
    const latest = (await get('?limit=100')).body
    t.equal(latest.total, 250 + 30 + 2, 'and the total counts the new jobs')
    t.same(latest.jobs.slice(2, 32).map((j: any) => j.id), [...arriving].reverse(), 'new jobs come first, newest first')
  })
})
