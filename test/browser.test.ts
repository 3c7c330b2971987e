// The web page in a real browser (headless Chromium), served behind a path prefix: submit from the
// form with the keyboard, watch the progress bar move on SSE events, see the image, find the job in
// the gallery, page through the gallery. Screenshots go to test/output/.
import t from 'tap'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { v7 as uuidv7 } from 'uuid'
import { TestSystem } from './helpers/system.ts'
import { PrefixProxy } from './helpers/prefix-proxy.ts'
import { launchBrowser } from './helpers/browser.ts'

const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url))

t.test('the web page', async t => {
  const sys = await TestSystem.start(t, { name: 'browser', workers: 1, workerEnv: { BUILTIN_STEPS: '8', BUILTIN_STEP_MS: '200' } })
  const proxy = new PrefixProxy(sys.gatewayPort, '/comfy')
  await proxy.start()
  t.teardown(() => proxy.stop())
  await mkdir(OUTPUT, { recursive: true })

  // 14 older jobs so the gallery has a second page (12 per page)
  const params = JSON.stringify({ aspect_ratio: '1:1', width: 1024, height: 1024, seed: 3, batch_size: 1 })
  const old = Array.from({ length: 14 }, (_x, i) => {
    const at = new Date(Date.now() - 60_000 + i)
    return [uuidv7({ msecs: at.getTime() }), 'failed', 'text_to_image', 'turbo_fp8', `older job ${i}`, params, 'worker lost', at, at]
  })
  await sys.db.pool.query('INSERT INTO jobs (id, status, workflow, model, prompt, params, error, created_at, updated_at) VALUES ?', [old])
  await sys.waitForWorkersConnected()

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  const outside: string[] = []
  const failures: string[] = []
  page.on('request', r => { if (!r.url().startsWith(proxy.url) && !r.url().startsWith('data:')) outside.push(r.url()) })
  page.on('response', r => { if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`) })
  page.on('pageerror', err => failures.push(`page error: ${err.message}`))

  await page.goto(proxy.url)
  t.equal(await page.title(), 'comfy-jobs')
  await page.waitForFunction(() => document.querySelector('#page-info')?.textContent !== '')
  t.ok(await page.locator('#key-panel').isHidden(), 'authentication off: no API key is asked for')
  t.ok(await page.locator('#key-forget').isHidden(), 'and none offered to forget')

  t.test('every control has a label', async t => {
    for (const label of ['Prompt', 'Workflow', 'Model', 'Aspect ratio', 'Seed']) {
      t.equal(await page.getByLabel(label, { exact: true }).count(), 1, `${label} is labelled`)
    }
    t.equal(await page.getByRole('button', { name: 'Generate' }).count(), 1)
    t.equal(await page.getByRole('progressbar').count(), 1, 'the progress bar is a progressbar to assistive tech')
    await page.getByRole('button', { name: 'Generate' }).click()
    t.equal(await page.getByRole('alert').textContent(), 'Write a prompt first.', 'an empty prompt is refused in words')
    t.equal(await page.evaluate(() => document.activeElement?.id), 'prompt', 'and focus goes to the prompt')
  })

  t.test('submit with the keyboard, watch the progress, see the image', async t => {
    await page.evaluate(() => {
      const bar = document.querySelector('#job-progress') as HTMLProgressElement
      const label = document.querySelector('#job-progress-label')!
      const seen: { values: number[], labels: string[] } = { values: [], labels: [] }
      ;(window as any).seen = seen
      new MutationObserver(() => seen.values.push(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] })
      new MutationObserver(() => seen.labels.push(label.textContent ?? '')).observe(label, { childList: true, characterData: true, subtree: true })
    })
    await page.getByLabel('Aspect ratio').selectOption('16:9')
    await page.getByLabel('Seed').fill('42')
    await page.getByLabel('Prompt', { exact: true }).focus()
    await page.keyboard.type('a lighthouse at dusk')
    await page.keyboard.press('Control+Enter')

    await page.waitForFunction(() => {
      const bar = document.querySelector('#job-progress') as HTMLProgressElement
      return bar.value > 0 && bar.value < 100
    }, undefined, { timeout: 15_000 })
    await page.screenshot({ path: `${OUTPUT}browser-progress.png` })
    const image = page.locator('#result img')
    await image.waitFor({ state: 'visible', timeout: 20_000 })
    await page.waitForFunction(() => (document.querySelector('#result img') as HTMLImageElement).naturalWidth > 0)
    t.same(await image.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]), [1216, 832], 'the 16:9 image is shown')
    t.equal(await image.getAttribute('alt'), 'Generated image: a lighthouse at dusk')
    t.match(await image.getAttribute('src'), /^outputs\/[0-9a-f-]{36}\.png$/, 'a relative image URL')
    t.equal(await page.locator('#job-status').textContent(), 'Finished')

    const seen = await page.evaluate(() => (window as any).seen) as { values: number[], labels: string[] }
    const moving = seen.values.filter(v => v > 0 && v < 100)
    t.ok(moving.length >= 3, `the bar moved through ${moving.length} intermediate values: ${seen.values.join(', ')}`)
    t.same(seen.values, [...seen.values].sort((a, b) => a - b), 'it never went backwards')
    t.equal(seen.values.at(-1), 100, 'and ended full')
    t.ok(seen.labels.some(l => /^\d+% · step [1-7]\/8 · node render$/.test(l)), `it showed step x/y and the node (${seen.labels.slice(2, 4).join(' | ')})`)
    await page.screenshot({ path: `${OUTPUT}browser-finished.png`, fullPage: true })
  })

  t.test('the gallery lists the job and pages through the history', async t => {
    const jobId = (await page.locator('#job-id').textContent())!.replace('Job ', '')
    const first = page.locator('#gallery li').first()
    await page.waitForFunction(id => {
      const li = document.querySelector('#gallery li')
      return li?.getAttribute('data-job-id') === id && li.getAttribute('data-status') === 'finished'
    }, jobId, { timeout: 10_000 })
    t.equal(await first.getAttribute('data-job-id'), jobId, 'the new job is first')
    t.equal(await first.locator('.badge').textContent(), 'finished', 'with its status')
    await page.waitForFunction(() => ((document.querySelector('#gallery li img') as HTMLImageElement)?.naturalWidth ?? 0) > 0)
    t.equal(await page.locator('#gallery li').count(), 12, 'a page of 12')
    t.equal(await page.locator('#page-info').textContent(), '1–12 of 15')
    await page.getByRole('button', { name: 'Older jobs', exact: true }).click()
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '13–15 of 15')
    t.equal(await page.locator('#gallery li').count(), 3, 'the last 3 on the next page')
    t.equal(await page.locator('#gallery li .badge').first().textContent(), 'failed', 'older jobs show their status')
    t.ok(await page.getByRole('button', { name: 'Older jobs', exact: true }).isDisabled(), 'no page after the last')
    await page.getByRole('button', { name: 'Newer jobs', exact: true }).click()
    await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '1–12 of 15')

    // keyboard: focus a gallery card and press Enter to show that job
    await page.locator('#gallery li .card-button').nth(1).focus()
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent?.startsWith('Failed'))
    t.equal(await page.locator('#job-status').textContent(), 'Failed: worker lost', 'a failed job from the gallery says why')
  })

  t.test('nothing left the prefix and nothing failed', async t => {
    t.same(outside, [], 'every request stayed under /comfy/ (relative URLs)')
    t.same(failures, [], 'no failed request or page error')
  })
})
