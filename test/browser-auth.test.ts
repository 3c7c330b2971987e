// The web page against a gateway that requires API keys (AUTH=required), in a real browser behind a
// path prefix: it asks for a key, refuses a wrong one in words, runs a job end to end with the right
// one (live progress over a signed event-stream URL, the image by a signed URL), lists only that
// owner's jobs, keeps the key across a reload (sessionStorage, never a URL), asks again when the key
// is revoked, and "Forget key" drops it. Screenshots go to test/output/.
import t from 'tap'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { TestSystem } from './helpers/system.ts'
import { PrefixProxy } from './helpers/prefix-proxy.ts'
import { launchBrowser } from './helpers/browser.ts'
import { runCli } from './helpers/cli-process.ts'

const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url))
const KEY_ITEM = 'comfy-jobs.api-key'

t.test('the web page with API keys required', async t => {
  const sys = await TestSystem.start(t, {
    name: 'browser_auth',
    workers: 1,
    // signed URLs live 10 s (the least allowed), so a stream outlives its URL within the test
    gatewayEnv: { AUTH: 'required', AUTH_URL_TTL_SECONDS: '10' },
    workerEnv: { BUILTIN_STEPS: '8', BUILTIN_STEP_MS: '200' }
  })
  const proxy = new PrefixProxy(sys.gatewayPort, '/comfy')
  await proxy.start()
  t.teardown(() => proxy.stop())
  await mkdir(OUTPUT, { recursive: true })

  const made = await runCli(['keys', 'create', '--owner', 'root', '--scopes', 'admin', '--name', 'bootstrap', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
  if (made.code !== 0) throw new Error(`keys create failed: ${made.stderr}`)
  const ADMIN: string = JSON.parse(made.stdout).secret
  const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` })
  async function createKey (owner: string): Promise<{ id: string, secret: string }> {
    const res = await fetch(`${sys.baseUrl}/api/keys`, {
      method: 'POST',
      headers: { ...auth(ADMIN), 'content-type': 'application/json' },
      body: JSON.stringify({ owner, name: `${owner} web`, scopes: ['submit', 'read', 'cancel'] })
    })
    const body = await res.json() as any
    if (res.status !== 201) throw new Error(`key not created: ${res.status} ${JSON.stringify(body)}`)
    return { id: body.key.id, secret: body.secret }
  }
  const alice = await createKey('alice')
  const bob = await createKey('bob')

  // bob's job, finished before alice opens the page (so the worker is up): it must not show up on her page
  const bobJob = await fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { ...auth(bob.secret), 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'bobs private prompt', seed: 5 })
  }).then(r => r.json()) as { job_id: string }
  for (let i = 0; ; i++) {
    const s = await fetch(`${sys.baseUrl}/api/status/${bobJob.job_id}`, { headers: auth(bob.secret) }).then(r => r.json()) as any
    if (s.status === 'finished') break
    if (i > 1200) throw new Error(`bob's job never finished: ${JSON.stringify(s)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  const urls: string[] = []
  const apiWithoutKey: string[] = [] // requests under api/ (but signed URLs) sent with no Authorization
  const failures: string[] = []
  const pageErrors: string[] = []
  page.on('request', r => {
    urls.push(r.url())
    const path = r.url().slice(proxy.url.length)
    if (path.startsWith('api/') && !/[?&]sig=/.test(path) && r.headers().authorization === undefined) apiWithoutKey.push(path)
  })
  page.on('response', r => { if (r.status() >= 400) failures.push(`${r.status()} ${r.url().slice(proxy.url.length)}`) })
  page.on('pageerror', err => pageErrors.push(err.message))
  const keyPanel = page.locator('#key-panel')
  const keyInput = page.getByRole('textbox', { name: 'API key', exact: true })
  const stored = (): Promise<string | null> => page.evaluate(item => sessionStorage.getItem(item), KEY_ITEM)

  await page.goto(proxy.url)

  t.test('the page asks for a key', async t => {
    await keyPanel.waitFor({ state: 'visible', timeout: 10_000 })
    t.equal(await page.locator('#key-reason').textContent(), 'This gateway needs an API key.', 'it says why')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'api-key', 'the key field has the focus')
    t.equal(await keyInput.getAttribute('type'), 'password', 'the key is not shown on screen')
    t.ok(await page.locator('#key-forget').isHidden(), 'no "Forget key" without a key')
    t.ok(failures.length > 0 && failures.every(f => f.startsWith('401 api/')), `it was refused without one: ${failures.join(', ')}`)
    failures.length = 0
    await page.screenshot({ path: `${OUTPUT}browser-auth-ask.png` })
  })

  t.test('a wrong key is refused in words, and asked again', async t => {
    await keyInput.fill('cj_live_thisIsNotAKeyThisIsNotAKeyThisIsNotAKey1')
    await keyInput.press('Enter')
    const alert = page.locator('#key-error')
    await alert.waitFor({ state: 'visible', timeout: 10_000 })
    t.equal(await alert.textContent(), 'The gateway refused this key (wrong, expired or revoked).')
    t.equal(await alert.getAttribute('role'), 'alert', 'read out to assistive tech')
    t.ok(await keyPanel.isVisible(), 'the form stays')
    t.equal(await stored(), null, 'the wrong key is not kept')
    t.same(failures, ['401 api/history?limit=1'], 'one try, refused')
    failures.length = 0
  })

  t.test('the right key runs a job end to end, with live progress and the image', async t => {
    await keyInput.fill(alice.secret)
    await page.getByRole('button', { name: 'Use key' }).click()
    await keyPanel.waitFor({ state: 'hidden', timeout: 10_000 })
    t.equal(await stored(), alice.secret, 'the key is kept for the session')
    t.ok(await page.locator('#key-forget').isVisible(), '"Forget key" is offered')
    await page.waitForFunction(() => document.querySelectorAll('#workflow option').length > 1, undefined, { timeout: 10_000 })
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '0–0 of 0', undefined, { timeout: 10_000 })

    await page.evaluate(() => {
      const bar = document.querySelector('#job-progress') as HTMLProgressElement
      const values: number[] = []
      ;(window as any).values = values
      new MutationObserver(() => values.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] })
    })
    await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse with a key')
    await page.getByLabel('Seed').fill('42')
    await page.getByRole('button', { name: 'Generate' }).click()
    const image = page.locator('#result img')
    await image.waitFor({ state: 'visible', timeout: 30_000 })
    await page.waitForFunction(() => (document.querySelector('#result img') as HTMLImageElement).naturalWidth > 0, undefined, { timeout: 10_000 })
    t.same(await image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]), [1024, 1024], 'the image is shown')
    t.match(await image.getAttribute('src'), /^outputs\/[0-9a-f-]{36}\.png\?exp=\d+&sig=[\w-]+$/, 'by a signed URL, relative to the page')
    t.match(await page.locator('#result a[download]').getAttribute('href'), /^outputs\/[0-9a-f-]{36}\.png\?exp=\d+&sig=/, 'and the download too')
    t.equal(await page.locator('#job-status').textContent(), 'Finished')
    const values = await page.evaluate(() => (window as any).values) as number[]
    t.ok(values.filter(v => v > 0 && v < 100).length >= 3, `live progress moved the bar: ${values.join(', ')}`)
    t.equal(values.at(-1), 100, 'to the end')
    t.ok(urls.some(u => /\/comfy\/api\/jobs\/[0-9a-f-]{36}\/events\?exp=\d+&sig=/.test(u)), 'the event stream was opened by its signed URL')
    await page.screenshot({ path: `${OUTPUT}browser-auth-finished.png`, fullPage: true })
  })

  t.test('the history lists only this owner\'s jobs', async t => {
    const jobId = (await page.locator('#job-id').textContent())!.replace('Job ', '')
    await page.waitForFunction(id => {
      const li = document.querySelector('#gallery li')
      return li?.getAttribute('data-job-id') === id && li.getAttribute('data-status') === 'finished'
    }, jobId, { timeout: 10_000 })
    t.same(await page.locator('#gallery li').evaluateAll((lis: HTMLElement[]) => lis.map(li => li.dataset.jobId)), [jobId], 'alice\'s job only')
    t.equal(await page.locator('#page-info').textContent(), '1–1 of 1')
    t.notOk((await page.content()).includes('bobs private prompt'), 'nothing of bob\'s job on the page')
    await page.waitForFunction(() => ((document.querySelector('#gallery li img') as HTMLImageElement)?.naturalWidth ?? 0) > 0, undefined, { timeout: 10_000 })
    t.pass('the thumbnail loaded by its signed URL')
  })

  t.test('a reload keeps the key for the session', async t => {
    await page.reload()
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '1–1 of 1', undefined, { timeout: 10_000 })
    t.ok(await keyPanel.isHidden(), 'no question after the reload')
    t.equal(await stored(), alice.secret)
    t.same(failures, [], 'nothing refused')
  })

  t.test('a stream cut after its signed URL expired is opened again on a new one', async t => {
    await sys.workers[0].kill('SIGTERM') // the job waits in the queue, its stream open
    const streams = (): string[] => urls.filter(u => /\/api\/jobs\/[0-9a-f-]{36}\/events\?/.test(u))
    const before = streams().length
    await page.getByLabel('Prompt', { exact: true }).fill('a lighthouse after a cut')
    await page.getByRole('button', { name: 'Generate' }).click()
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'Queued' && document.querySelector('#job-id')?.textContent !== '')
    for (let i = 0; streams().length === before; i++) {
      if (i > 200) throw new Error('no event stream opened')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    const first = new URL(streams().at(-1)!)
    const expiry = Number(first.searchParams.get('exp')) * 1000
    while (Date.now() <= expiry + 1000) await new Promise(resolve => setTimeout(resolve, 200)) // the URL has expired
    proxy.dropConnections()
    for (let i = 0; !streams().slice(before).some(u => new URL(u).searchParams.get('sig') !== first.searchParams.get('sig')); i++) {
      if (i > 600) throw new Error(`the stream was not opened on a new URL: ${streams().slice(before).join(', ')}`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.ok(failures.some(f => /^401 api\/jobs\/[0-9a-f-]{36}\/events\?exp=/.test(f)), 'the expired URL was refused')
    t.ok(failures.every(f => /^401 api\/jobs\/[0-9a-f-]{36}\/events\?exp=/.test(f)), `and nothing else: ${failures.join(', ')}`)
    failures.length = 0
    await sys.startWorker(0)
    await page.locator('#result img').waitFor({ state: 'visible', timeout: 60_000 })
    t.equal(await page.locator('#job-status').textContent(), 'Finished', 'the page followed the job to its end on the new stream')
    t.equal(await page.locator('#job-progress').evaluate((bar: HTMLProgressElement) => bar.value), 100)
    t.ok(await keyPanel.isHidden(), 'no key asked for: the key was never the problem')
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '1–2 of 2', undefined, { timeout: 10_000 })
  })

  t.test('a revoked key is refused and asked again', async t => {
    const revoked = await fetch(`${sys.baseUrl}/api/keys/${alice.id}`, { method: 'DELETE', headers: auth(ADMIN) })
    t.ok(revoked.ok, `revoked: ${revoked.status}`)
    await page.getByRole('button', { name: 'Refresh' }).click()
    await keyPanel.waitFor({ state: 'visible', timeout: 10_000 })
    t.equal(await page.locator('#key-error').textContent(), 'The gateway refused the key (wrong, expired or revoked). Enter a key.')
    t.equal(await stored(), null, 'the refused key is dropped')
    t.ok(await page.locator('#key-forget').isHidden())
    t.ok(failures.length > 0 && failures.every(f => f.startsWith('401 api/')), `refused: ${failures.join(', ')}`)
    failures.length = 0
  })

  t.test('"Forget key" drops the key and asks again', async t => {
    const again = await createKey('alice')
    await keyInput.fill(again.secret)
    await keyInput.press('Enter')
    await keyPanel.waitFor({ state: 'hidden', timeout: 10_000 })
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '1–2 of 2', undefined, { timeout: 10_000 })
    await page.getByRole('button', { name: 'Forget key' }).click()
    await keyPanel.waitFor({ state: 'visible', timeout: 10_000 })
    t.equal(await stored(), null, 'no key in the session')
    t.equal(await page.locator('#gallery li').count(), 0, 'nothing of the owner\'s jobs is left on the page')
    failures.length = 0
  })

  t.test('the key never went into a URL, and every API call carried it', async t => {
    for (const secret of [alice.secret, bob.secret, ADMIN]) t.notOk(urls.some(u => u.includes(secret)), 'no key in any URL')
    t.same(pageErrors, [], 'no page error')
    // without a key: the first loads (before the question) and after "Forget key"
    t.same(apiWithoutKey.sort(), ['api/history?limit=12', 'api/history?limit=12', 'api/workflows', 'api/workflows'], 'only the two loads that asked for a key went without one')
  })
})
