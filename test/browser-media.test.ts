// The web page with media, in a real browser (headless Chromium) behind a path prefix: the workflow
// list and its input pickers come from GET /api/workflows; a user drops an image on an image
// workflow, runs it and sees the result made from it; a video workflow shows a video that plays;
// cancel works from the current job and from a history card; a history card follows a job from
// queued to finished without a reload. Screenshots go to test/output/.
import t from 'tap'
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import type { Page } from 'playwright-core'
import { TestSystem } from './helpers/system.ts'
import { PrefixProxy } from './helpers/prefix-proxy.ts'
import { launchBrowser } from './helpers/browser.ts'
import { encodeAs, paint, wav } from './helpers/media.ts'

const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url))

/** Drops files on an element the way a drag from the desktop does (a drop event carrying Files). */
async function drop (page: Page, selector: string, files: Array<{ name: string, type: string, bytes: Buffer }>): Promise<void> {
  const dataTransfer = await page.evaluateHandle(list => {
    const dt = new DataTransfer()
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), c => c.charCodeAt(0))], f.name, { type: f.type }))
    return dt
  }, files.map(f => ({ name: f.name, type: f.type, b64: f.bytes.toString('base64') })))
  await page.locator(selector).dispatchEvent('drop', { dataTransfer })
}

/** Mean colour of the left and right halves of a loaded <img> or <video>, drawn on a canvas. */
function halves (page: Page, selector: string): Promise<number[][]> {
  return page.locator(selector).evaluate((el: HTMLImageElement | HTMLVideoElement) => {
    const width = el instanceof HTMLVideoElement ? el.videoWidth : el.naturalWidth
    const height = el instanceof HTMLVideoElement ? el.videoHeight : el.naturalHeight
    const canvas = document.createElement('canvas')
    canvas.width = width
    canvas.height = height
    const ctx = canvas.getContext('2d')!
    ctx.drawImage(el, 0, 0)
    return [0, 1].map(half => {
      const data = ctx.getImageData(half * width / 2, 0, width / 2, height).data
      const mean = [0, 0, 0]
      for (let i = 0; i < data.length; i += 4) for (let k = 0; k < 3; k++) mean[k] += data[i + k] / (data.length / 4)
      return mean.map(Math.round)
    })
  })
}

t.test('the web page with media', async t => {
  const sys = await TestSystem.start(t, { name: 'browser_media', workers: 1, workerEnv: { BUILTIN_STEPS: '8', BUILTIN_STEP_MS: '150' } })
  const proxy = new PrefixProxy(sys.gatewayPort, '/comfy')
  await proxy.start()
  t.teardown(() => proxy.stop())
  const redis = new Redis(sys.redisUrl, { maxRetriesPerRequest: 1 })
  const queue = new Queue(sys.queueName, { connection: redis })
  t.teardown(async () => { await queue.close(); redis.disconnect() })
  await mkdir(OUTPUT, { recursive: true })
  await sys.waitForWorkersConnected()
  const { workflows } = await fetch(`${sys.baseUrl}/api/workflows`).then(r => r.json()) as { workflows: Array<{ name: string }> }

  const browser = await launchBrowser()
  t.teardown(() => browser.close())
  const page = await browser.context.newPage()
  const outside: string[] = []
  const failures: string[] = []
  const expectedFailures: RegExp[] = [] // responses a subtest provoked on purpose
  page.on('request', r => { if (!r.url().startsWith(proxy.url) && !/^(data|blob):/.test(r.url())) outside.push(r.url()) })
  page.on('response', r => { if (r.status() >= 400) failures.push(`${r.status()} ${r.url()}`) })
  page.on('pageerror', err => failures.push(`page error: ${err.message}`))
  await page.goto(proxy.url)
  await page.evaluate(() => { (window as any).sameDocument = true }) // gone if the page reloads
  const workflow = page.getByLabel('Workflow', { exact: true })
  await page.waitForFunction(n => document.querySelectorAll('#workflow option').length === n, workflows.length)

  t.test('the workflows and their inputs come from the workers', async t => {
    t.ok(workflows.length >= 7, `${workflows.length} workflows`)
    t.same(await workflow.locator('option').evaluateAll((os: HTMLOptionElement[]) => os.map(o => o.value)), workflows.map(w => w.name), 'every workflow is offered')
    await workflow.selectOption('upscale')
    t.ok(await page.locator('#prompt-field').isHidden(), 'upscale takes no prompt, so none is asked')
    t.equal(await page.locator('fieldset.picker').count(), 1, 'one picker')
    t.equal(await page.locator('fieldset.picker legend').textContent(), 'Input (one image)')
    t.equal(await page.getByLabel('Choose image for input').getAttribute('accept'), 'image/png,image/jpeg,image/webp', 'it accepts what the gateway accepts')
    await workflow.selectOption('talking_avatar')
    t.same(await page.locator('fieldset.picker legend').allTextContents(), ['Avatar (one image)', 'Audio (one sound)'])
    t.match(await page.getByLabel('Choose sound for audio').getAttribute('accept'), /audio\/wav/)
    t.ok(await page.getByLabel('Prompt', { exact: true }).isVisible(), 'an optional prompt is offered')
    await workflow.selectOption('multi_image_blend')
    t.equal(await page.locator('fieldset.picker legend').textContent(), 'Images (2–5 images, in order)')
    t.ok(await page.getByLabel('Choose images for images').evaluate((i: HTMLInputElement) => i.multiple), 'several files at once')
    await workflow.selectOption('text_to_video')
    t.equal(await page.locator('fieldset.picker').count(), 0, 'no picker where the workflow takes no media')
    t.ok(await page.getByLabel('Segment prompts').isVisible(), 'segment prompts where the workflow takes them')
  })

  t.test('drop an image on an image workflow, run it, see the result made from it', async t => {
    await workflow.selectOption('upscale')
    const red = [200, 40, 40]
    const blue = [40, 60, 210]
    const png = await encodeAs(paint(160, 120, x => (x < 80 ? red : blue) as [number, number, number]), 'png')
    await drop(page, 'fieldset.picker[data-input="input"]', [{ name: 'halves.png', type: 'image/png', bytes: png }])
    const picked = page.locator('fieldset.picker li')
    await picked.and(page.locator('[data-upload]')).waitFor({ timeout: 20_000 })
    const upload = await picked.getAttribute('data-upload')
    t.match(upload, /^[0-9a-f]{64}\.png$/, 'uploaded: the page holds the upload name')
    t.equal(await picked.locator('.picked-state').textContent(), 'halves.png: 160 × 120', 'it says what arrived')
    t.ok(await picked.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth === 160), 'with a preview')

    const submitted = page.waitForRequest(r => r.url().endsWith('api/generate'))
    await page.getByRole('button', { name: 'Generate' }).click()
    const body = (await submitted).postDataJSON()
    t.same(body.inputs, { input: upload }, 'the job is submitted with the upload name, not the bytes')
    t.notOk('prompt' in body, 'and no prompt')

    const result = page.locator('#result img')
    await result.waitFor({ state: 'visible', timeout: 30_000 })
    await page.waitForFunction(() => ((document.querySelector('#result img') as HTMLImageElement)?.naturalWidth ?? 0) > 0)
    t.same(await result.evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]), [320, 240], 'the result is the input at twice its size')
    const [left, right] = await halves(page, '#result img')
    t.ok(left.every((v, k) => Math.abs(v - red[k]) < 12) && right.every((v, k) => Math.abs(v - blue[k]) < 12), `red left, blue right as dropped (${left} | ${right})`)
    const jobId = (await page.locator('#job-id').textContent())!.replace('Job ', '')
    const record = await fetch(`${sys.baseUrl}/api/jobs/${jobId}`).then(r => r.json()) as any
    t.not(record.params.seed, -1)
    t.equal(await page.locator('#job-meta').textContent(), `Seed ${record.params.seed} · upscale · ${record.model}`, 'the seed the job used')
    const download = page.locator('#result a[download]')
    t.equal(await download.getAttribute('href'), await result.getAttribute('src'), 'a download of the result')
    t.equal(await download.getAttribute('download'), `${jobId}.png`)
    t.equal(await page.locator('#result figcaption').textContent(), `320 × 240, ${Math.max(1, Math.round(record.outputs[0].bytes / 1024))} KiB Download`)
    await page.screenshot({ path: `${OUTPUT}browser-upscale.png`, fullPage: true })
  })

  t.test('an images input counts its files, chosen with the file picker', async t => {
    await workflow.selectOption('multi_image_blend')
    const one = await encodeAs(paint(64, 64, () => [250, 250, 0]), 'png')
    const two = await encodeAs(paint(64, 64, () => [0, 0, 250]), 'png')
    await drop(page, 'fieldset.picker[data-input="images"]', [{ name: 'notes.png', type: 'image/png', bytes: Buffer.from('not an image at all') }])
    const refused = page.locator('fieldset.picker li.refused')
    await refused.waitFor()
    t.match(await refused.locator('.picked-state').textContent(), /^notes\.png: file .+/, `the gateway's refusal is shown on the file (${await refused.locator('.picked-state').textContent()})`)
    await page.getByRole('button', { name: 'Generate' }).click()
    await page.waitForFunction(() => /^images: notes\.png was refused .*; remove it first$/.test(document.querySelector('#form-error')?.textContent ?? ''))
    t.pass('a refused file stops the submit, saying which')
    await page.getByRole('button', { name: 'Remove notes.png' }).click()
    t.equal(await page.locator('fieldset.picker li').count(), 0, 'removed')
    expectedFailures.push(/^415 .*\/comfy\/api\/upload$/)
    await page.getByLabel('Choose images for images').setInputFiles([{ name: 'yellow.png', mimeType: 'image/png', buffer: one }])
    await page.locator('fieldset.picker li[data-upload]').waitFor({ timeout: 20_000 })
    await page.getByLabel('Prompt', { exact: true }).fill('')
    await page.getByRole('button', { name: 'Generate' }).click()
    await page.waitForFunction(() => document.querySelector('#form-error')?.textContent === 'images: add at least 2 images')
    t.pass('one image of at least 2 is refused on the page, naming the input')
    await page.getByLabel('Choose images for images').setInputFiles([{ name: 'blue.png', mimeType: 'image/png', buffer: two }])
    await page.waitForFunction(() => document.querySelectorAll('fieldset.picker li[data-upload]').length === 2)
    const accepted = page.waitForResponse(r => r.url().endsWith('api/generate'))
    await page.getByRole('button', { name: 'Generate' }).click()
    const jobId = (await (await accepted).json()).job_id
    await page.waitForFunction(id => document.querySelector('#job-id')?.textContent === `Job ${id}` &&
      document.querySelector('#job-status')?.textContent === 'Finished', jobId, { timeout: 30_000 })
    const record = await fetch(`${sys.baseUrl}/api/jobs/${jobId}`).then(r => r.json()) as any
    t.same(record.inputs.images.map((i: { width: number }) => i.width), [64, 64], 'the job carries both images, in order')
    t.same(await page.locator('#form-error').isHidden(), true, 'the error is gone')
  })

  t.test('a video workflow shows a video that plays', async t => {
    await workflow.selectOption('text_to_video')
    await page.getByLabel('Prompt', { exact: true }).fill('waves on a shore')
    await page.getByLabel('Segment prompts').fill('calm sea\nstorm')
    await page.getByRole('button', { name: 'Generate' }).click()
    const video = page.locator('#result video')
    await video.waitFor({ state: 'visible', timeout: 40_000 })
    const jobId = (await page.locator('#job-id').textContent())!.replace('Job ', '')
    const record = await fetch(`${sys.baseUrl}/api/jobs/${jobId}`).then(r => r.json()) as any
    t.same(record.prompts, ['calm sea', 'storm'], 'the segments were sent')
    const output = record.outputs[0]
    t.equal(output.kind, 'video')
    t.ok(await video.evaluate((v: HTMLVideoElement) => v.controls), 'a player with controls')
    t.equal(await video.getAttribute('aria-label'), 'Generated video: waves on a shore')
    const played = await video.evaluate(async (v: HTMLVideoElement) => {
      v.muted = true
      if (v.readyState < 2) await new Promise(resolve => { v.onloadeddata = resolve })
      const size = [v.videoWidth, v.videoHeight]
      const duration = v.duration
      await v.play()
      await new Promise(resolve => { v.onended = resolve })
      return { size, duration, decoded: (v as any).webkitVideoDecodedByteCount as number }
    })
    t.same(played.size, [output.width, output.height], `plays at its recorded size (${played.size.join(' × ')})`)
    t.ok(Math.abs(played.duration - output.duration_ms / 1000) < 0.1, `lasts ${played.duration} s as recorded (${output.duration_ms} ms, two segments)`)
    t.ok(played.decoded > 0, 'the browser decoded frames')
    t.equal(await page.locator('#result a[download]').getAttribute('download'), `${jobId}.webm`, 'a download of the video')
    await page.waitForFunction(id => document.querySelector(`#gallery li[data-job-id="${id}"][data-status="finished"] video`) !== null, jobId, { timeout: 10_000 })
    t.pass('its history card shows the video')
    await page.screenshot({ path: `${OUTPUT}browser-video.png`, fullPage: true })
  })

  t.test('a talking avatar from a dropped portrait and a chosen sound plays with its sound', async t => {
    await workflow.selectOption('talking_avatar')
    const portrait = await encodeAs(paint(120, 160, () => [210, 170, 140]), 'png')
    const voice = wav(1.5, s => 0.4 * Math.sin(2 * Math.PI * 220 * s), 22_050)
    await drop(page, 'fieldset.picker[data-input="avatar"]', [{ name: 'face.png', type: 'image/png', bytes: portrait }])
    await page.getByLabel('Choose sound for audio').setInputFiles([{ name: 'voice.wav', mimeType: 'audio/wav', buffer: voice }])
    await page.waitForFunction(() => document.querySelectorAll('fieldset.picker li[data-upload]').length === 2, undefined, { timeout: 20_000 })
    t.ok(await page.locator('fieldset.picker[data-input="audio"] li audio').evaluate((a: HTMLAudioElement) => a.controls), 'the sound can be played before it is sent')
    await page.getByLabel('Prompt', { exact: true }).fill('')
    const accepted = page.waitForResponse(r => r.url().endsWith('api/generate'))
    await page.getByRole('button', { name: 'Generate' }).click()
    const jobId = (await (await accepted).json()).job_id
    const video = page.locator('#result video')
    await page.waitForFunction(id => document.querySelector('#job-id')?.textContent === `Job ${id}` && document.querySelector('#result video') !== null, jobId, { timeout: 40_000 })
    const played = await video.evaluate(async (v: HTMLVideoElement) => {
      v.muted = true
      if (v.readyState < 2) await new Promise(resolve => { v.onloadeddata = resolve })
      const size = [v.videoWidth, v.videoHeight]
      await v.play()
      await new Promise(resolve => { v.onended = resolve })
      return { size, duration: v.duration, audio: (v as any).webkitAudioDecodedByteCount as number }
    })
    t.same(played.size, [120, 160], 'the portrait\'s size')
    t.ok(Math.abs(played.duration - 1.5) < 0.1, `as long as the sound (${played.duration} s)`)
    t.ok(played.audio > 0, `with the sound track (${played.audio} bytes decoded)`)
  })

  t.test('cancel from the current job and from a history card', async t => {
    await queue.pause() // jobs wait in the queue until resumed: cancelled while they are surely queued
    t.teardown(() => queue.resume())
    await workflow.selectOption('text_to_image')
    await page.getByLabel('Prompt', { exact: true }).fill('this job is cancelled from the panel')
    await page.getByRole('button', { name: 'Generate' }).click()
    const cancel = page.getByRole('button', { name: 'Cancel job', exact: true })
    await cancel.waitFor({ state: 'visible' })
    const jobId = (await page.locator('#job-id').textContent())!.replace('Job ', '')
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'Queued')
    await cancel.click()
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent?.startsWith('Cancelled'))
    t.ok(await cancel.isHidden(), 'no cancel button once the job ended')
    t.equal((await sys.row(jobId)).status, 'cancelled', 'the job is cancelled')

    const other = await sys.submit({ prompt: 'a job from another client, cancelled from its card' })
    await page.getByRole('button', { name: 'Refresh' }).click()
    const card = page.locator(`#gallery li[data-job-id="${other.body.job_id}"]`)
    await card.and(page.locator('[data-status="queued"]')).waitFor()
    await card.getByRole('button', { name: /^Cancel job/ }).click()
    await page.locator(`#gallery li[data-job-id="${other.body.job_id}"][data-status="cancelled"]`).waitFor()
    t.equal((await sys.row(other.body.job_id)).status, 'cancelled', 'the card cancelled its job')
    t.equal(await page.locator(`#gallery li[data-job-id="${other.body.job_id}"] .badge`).textContent(), 'cancelled', 'and says so')
    t.equal(await page.locator(`#gallery li[data-job-id="${other.body.job_id}"]`).getByRole('button', { name: /^Cancel/ }).count(), 0, 'with no cancel button left')
  })

  t.test('a history card goes from queued to finished without a reload', async t => {
    await queue.pause()
    const prompt = `a long prompt from another client: ${'a quiet harbour at dawn, boats resting on still water, '.repeat(4)}and gulls`
    const job = await sys.submit({ prompt, seed: 1234 })
    const id = job.body.job_id
    await page.getByRole('button', { name: 'Refresh' }).click()
    const card = page.locator(`#gallery li[data-job-id="${id}"]`)
    await card.waitFor()
    t.equal(await card.getAttribute('data-status'), 'queued')
    await page.evaluate(jobId => {
      const seen: string[] = (window as any).cardStatuses = ['queued']
      new MutationObserver(() => {
        const status = document.querySelector(`#gallery li[data-job-id="${jobId}"]`)?.getAttribute('data-status')
        if (status && status !== seen.at(-1)) seen.push(status)
      }).observe(document.querySelector('#gallery')!, { childList: true, subtree: true, attributes: true })
    }, id)
    t.equal(await card.locator('summary').textContent(), prompt)
    await card.locator('summary').click()
    t.equal(await card.locator('.whole-prompt').textContent(), prompt, 'the whole prompt on expand')
    t.ok(await card.locator('.whole-prompt').isVisible())
    t.equal(await card.locator('.card-details .muted').textContent(), 'Seed 1234 · text_to_image · turbo_fp8', 'with the seed')

    await queue.resume()
    await page.locator(`#gallery li[data-job-id="${id}"][data-status="finished"]`).waitFor({ timeout: 30_000 })
    const seen = await page.evaluate(() => (window as any).cardStatuses) as string[]
    t.equal(seen[0], 'queued')
    t.equal(seen.at(-1), 'finished', `the card followed the job: ${seen.join(' → ')}`)
    t.ok(await page.evaluate(() => (window as any).sameDocument), 'without a reload')
    await page.waitForFunction(jobId => ((document.querySelector(`#gallery li[data-job-id="${jobId}"] img`) as HTMLImageElement)?.naturalWidth ?? 0) > 0, id)
    t.pass('it shows the image')
    t.ok(await card.locator('.whole-prompt').isVisible(), 'and stays expanded')
    t.equal(await card.locator('a[download]').getAttribute('download'), `${id}.png`, 'with a download')
    await page.screenshot({ path: `${OUTPUT}browser-live-card.png`, fullPage: true })
  })

  t.test('nothing left the prefix and nothing failed', async t => {
    t.same(outside, [], 'every request stayed under /comfy/ (relative URLs)')
    t.same(failures.filter(f => !expectedFailures.some(e => e.test(f))), [], 'no failed request or page error but the refused upload')
  })
})
