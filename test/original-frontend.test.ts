// The original system's web pages, unmodified, served by the gateway (WEB_ROOT) and driven in
// headless Chromium as their users drive them: every tool of the studio (dashboard.html) on the
// built-in engine, photos picked in the file chooser and sent inline as the pages send them, each
// ending with its result shown; then the gallery. No API request may fail and no console error may
// come from the API. Screenshots of each result go to docs/screenshots/original-frontend/.
//
// As a user: register and log in on login.html, use every tool, see them in the gallery, log out on
// profile.html; then a second user registers and logs in, and the gallery shows none of the first
// user's jobs. Account calls are API calls like the others: none may fail.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import sharp from 'sharp'
import type { Page } from 'playwright-core'
import { TestSystem } from './helpers/system.ts'
import { launchBrowser } from './helpers/browser.ts'
import { wav } from './helpers/media.ts'
import { REPO_ROOT } from './helpers/worker-process.ts'
import { ORIGINAL_FRONTEND_DIR, ORIGINAL_ORIGIN, originToGateway, withCdnScripts } from './helpers/original-pages.ts'

/** A JSON column as the driver gives it: parsed already, or text. */
const json = (value: unknown): any => typeof value === 'string' ? JSON.parse(value) : value

const SCREENSHOTS = join(REPO_ROOT, 'docs', 'screenshots', 'original-frontend')
const ACCOUNT_ROUTES = /^\/api\/(me|login|register|logout)$/
const RESULT_TIMEOUT = 120_000

interface Picked { name: string, mimeType: string, buffer: Buffer }

/** A photo-like JPEG: noise over a colour, several hundred kB, as a phone picture is several MB. */
async function photo (name: string, colour: { r: number, g: number, b: number }, width = 1280, height = 960): Promise<Picked> {
  const noise = randomBytes(width * height * 3)
  const tint = [colour.r, colour.g, colour.b]
  const tinted = Buffer.from(noise.map((v, i) => Math.max(0, Math.min(255, tint[i % 3] + (v - 128) / 3))))
  const buffer = await sharp(tinted, { raw: { width, height, channels: 3 } }).jpeg({ quality: 92 }).toBuffer()
  return { name, mimeType: 'image/jpeg', buffer }
}

// ten jobs end to end, each seen by a page that polls every 2 s, plus a browser: longer than .taprc's
// 400 s guard on a machine as loaded as CI's (load 30 on 2 cores)
t.setTimeout(900_000)

t.test('the original pages, every tool on the built-in engine', async t => {
  const sys = await TestSystem.start(t, {
    name: 'origpages',
    workers: 1,
    gatewayEnv: { WEB_ROOT: ORIGINAL_FRONTEND_DIR },
    workerEnv: { BUILTIN_STEPS: '4', BUILTIN_STEP_MS: '20' }
  })
  await sys.waitForWorkersConnected()
  await mkdir(SCREENSHOTS, { recursive: true })

  const browser = await launchBrowser({ width: 1440, height: 900 }, originToGateway(sys.gatewayPort))
  t.teardown(() => browser.close())
  const aborted: string[] = []
  const page = await browser.context.newPage()

  const apiFailures: string[] = []
  const accountCalls: string[] = []
  const consoleErrors: Array<{ text: string, url: string }> = []
  const pageErrors: string[] = []
  const pathOf = (url: string) => new URL(url).pathname
  /** a call of the API (or an output it serves), as opposed to the pages' own files */
  const ours = (url: string) => url.startsWith(`${ORIGINAL_ORIGIN}/`) && /^\/(api|outputs)\//.test(pathOf(url))
  /** the pages' files the folder lacks, as its README says (a commercial font, a video absent upstream too) */
  const lackedFiles = /^\/(front\/TT%20Norms%20Pro[^/]*\.(ttf|otf|woff2?)|image\/Circle\.mp4)$/
  const missingFiles: string[] = []
  /** requests the API answered (their status is checked here); the page may leave before their body is read */
  const answered = new WeakSet<object>()
  page.on('response', res => {
    answered.add(res.request())
    if (!ours(res.url())) {
      if (res.url().startsWith(`${ORIGINAL_ORIGIN}/`) && res.status() >= 400) missingFiles.push(`${res.status()} ${pathOf(res.url())}`)
      return
    }
    if (ACCOUNT_ROUTES.test(pathOf(res.url()))) accountCalls.push(`${res.request().method()} ${pathOf(res.url())} ${res.status()}`)
    if (res.status() >= 400) apiFailures.push(`${res.request().method()} ${pathOf(res.url())} → ${res.status()}`)
  })
  page.on('requestfailed', req => {
    // a video element drops its range requests once it has what it wants, and profile.html leaves for
    // login.html as soon as its logout is answered (200, checked above) without reading the body: that
    // is the browser, not the API
    const dropped = req.failure()?.errorText === 'net::ERR_ABORTED' && (req.resourceType() === 'media' || answered.has(req))
    if (ours(req.url()) && !dropped) {
      apiFailures.push(`${req.method()} ${pathOf(req.url())} failed: ${req.failure()?.errorText}`)
    }
  })
  page.on('console', msg => { if (msg.type() === 'error') consoleErrors.push({ text: msg.text(), url: msg.location().url ?? '' }) })
  page.on('pageerror', err => pageErrors.push(err.message))

  /** Clicks `zone` and picks the files in the file chooser it opens. */
  const pick = async (zone: string, ...files: Picked[]) => {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.locator(zone).click()])
    await chooser.setFiles(files)
  }
  /** Clicks `button` and returns the submit the page sent and the job it made. */
  const submit = async (button: string) => {
    // a long video's five photos are read, encoded and sent by the page: slow on a loaded machine
    const answered = page.waitForResponse(res => pathOf(res.url()) === '/api/generate', { timeout: RESULT_TIMEOUT })
    await page.locator(button).click()
    const res = await answered
    const sent = res.request().postDataJSON() as Record<string, any>
    const body = await res.json()
    return { status: res.status(), sent, jobId: body.job_id as string, bodyBytes: res.request().postDataBuffer()?.length ?? 0 }
  }
  const row = async (jobId: string) => ((await sys.db.pool.query('SELECT workflow, status, prompt, prompts, inputs, LENGTH(inputs) AS inputs_length FROM jobs WHERE id = ?', [jobId])) as any)[0][0]
  const shoot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })
  const results: Array<{ tool: string, workflow: string, output: string, screenshot: string }> = []

  const red = await photo('portrait.jpg', { r: 200, g: 90, b: 80 })
  const blue = await photo('beach.jpg', { r: 70, g: 110, b: 210 })
  const green = await photo('forest.jpg', { r: 60, g: 170, b: 90 })
  const sketch = await photo('sketch.jpg', { r: 235, g: 235, b: 235 })
  const shots = await Promise.all([[220, 160, 60], [60, 200, 200], [180, 80, 200], [90, 90, 90], [240, 240, 120]]
    .map(([r, g, b], i) => photo(`shot${i + 1}.jpg`, { r, g, b })))
  const speech: Picked = { name: 'speech.wav', mimeType: 'audio/wav', buffer: wav(1.5, s => Math.sin(2 * Math.PI * 220 * s) * (0.3 + 0.3 * Math.sin(2 * Math.PI * 3 * s))) }

  const iconsDrawn = () => page.waitForFunction(() => typeof (window as any).lucide !== 'undefined' && document.querySelectorAll('svg.lucide').length > 0)
  /** On login.html: the register tab, then the login form the page switches back to, then the studio. */
  const signUpAndLogIn = async (t: Test, user: { name: string, email: string, password: string }) => {
    await page.locator('button[onclick="switchTab(\'register\')"]').click()
    await page.locator('#register-name').fill(user.name)
    await page.locator('#register-email').fill(user.email)
    await page.locator('#register-password').fill(user.password)
    const registered = page.waitForResponse(res => pathOf(res.url()) === '/api/register')
    await page.locator('#register-btn').click()
    t.equal((await registered).status(), 201, `${user.name} registers on login.html`)
    // the page says so, then shows its login form with the email filled in
    await page.waitForFunction(email => (document.querySelector('#login-email') as HTMLInputElement).value === email &&
      !document.querySelector('#login-form')!.classList.contains('hidden'), user.email)
    await page.locator('#login-password').fill(user.password)
    const loggedIn = page.waitForResponse(res => pathOf(res.url()) === '/api/login')
    await page.locator('#login-btn').click()
    t.equal((await loggedIn).status(), 200, `${user.name} logs in`)
    await page.waitForURL(`${ORIGINAL_ORIGIN}/dashboard.html`, { timeout: 60_000 })
    await iconsDrawn()
    await page.locator('#topbar-user-name').filter({ hasText: user.name }).waitFor({ timeout: 30_000 })
  }
  const first = { name: 'Mei', email: `mei-${randomBytes(3).toString('hex')}@example.com`, password: 'mei studio password' }

  t.test('a user registers and logs in (login.html), the studio greets them', async t => {
    await withCdnScripts(page, aborted, async () => {
      await page.goto(`${ORIGINAL_ORIGIN}/login.html`, { waitUntil: 'load' })
      await iconsDrawn()
      await signUpAndLogIn(t, first)
    })
    const [rows] = await sys.db.pool.query('SELECT id FROM users WHERE email = ?', [first.email]) as any
    t.equal(rows.length, 1, 'the account exists')
    const cookie = (await browser.context.cookies()).find(c => c.name === 'cj_session')
    t.ok(cookie?.httpOnly, 'the session cookie is HttpOnly')
    t.equal(cookie?.sameSite, 'Lax')
  })

  t.test('the model list is filled from /api/models, text to image\'s default first', async t => {
    await page.locator('button[onclick="showCompositionMenu()"]:visible').first().click()
    await page.locator('#model-select option').first().waitFor({ state: 'attached' })
    await page.waitForFunction(() => (document.querySelector('#model-select') as HTMLSelectElement).value !== 'loading')
    t.equal(await page.locator('#model-select').inputValue(), 'turbo_fp8', 'the preselected model is text to image\'s default')
  })

  // ---- image tools: the studio's composition workspace, one tool after another
  const imageTool = async (t: Test, tool: string, opts: { prompt: string, uploads: Array<[string, Picked]>, workflow: string, screenshot: string }) => {
    if (await page.locator('#tool-selector-overlay').isHidden()) await page.locator('button[onclick="showCompositionMenu()"]:visible').first().click()
    const restored = page.waitForEvent('console', msg => msg.text().includes(`已載入 ${tool} 的狀態`))
    await page.locator(`button[onclick="selectTool('${tool}')"]`).click()
    await restored // the page restores the tool's saved prompt and images 100 ms after it opens
    for (const [id, file] of opts.uploads) {
      await pick(`#zone-${id}`, file)
      await page.locator(`#preview-${id}`).waitFor({ state: 'visible' })
    }
    await page.locator('#prompt-input').fill(opts.prompt)
    const { status, sent, jobId, bodyBytes } = await submit('#btn-generate')
    t.equal(status, 200, `${tool}: the page's own request is accepted (${Math.round(bodyBytes / 1024)} kB)`)
    t.equal(sent.workflow, tool)
    t.same(Object.keys(sent.images).filter(k => sent.images[k] !== null).sort(), opts.uploads.map(([id]) => id).sort(), 'the images sent as data: URLs under the page\'s names')
    await page.waitForFunction(id => {
      const img = document.querySelector('#results-grid img') as HTMLImageElement | null
      return img !== null && img.src.includes(id) && img.complete && img.naturalWidth > 0
    }, jobId, { timeout: RESULT_TIMEOUT })
    const job = await row(jobId)
    t.equal(job.workflow, opts.workflow)
    t.equal(job.status, 'finished')
    t.ok(job.inputs_length === null || job.inputs_length < 4096, 'the row carries references to the inputs, not their bytes')
    await page.locator('#btn-generate:not([disabled])').waitFor()
    await shoot(opts.screenshot)
    const src = await page.locator('#results-grid img').getAttribute('src')
    results.push({ tool, workflow: job.workflow, output: src ?? '', screenshot: `${opts.screenshot}.png` })
  }

  t.test('text to image', t => imageTool(t, 'text_to_image', { prompt: 'a lighthouse at dusk', uploads: [], workflow: 'text_to_image', screenshot: '01-text-to-image' }))
  t.test('single image edit', t => imageTool(t, 'single_image_edit', { prompt: 'make it warmer', uploads: [['input', blue]], workflow: 'single_image_edit', screenshot: '02-single-image-edit' }))
  t.test('face swap', t => imageTool(t, 'face_swap', { prompt: '', uploads: [['source', red], ['target', blue]], workflow: 'face_swap', screenshot: '03-face-swap' }))
  t.test('multi-image blend', t => imageTool(t, 'multi_image_blend', { prompt: 'one dreamy picture', uploads: [['source', red], ['target', blue], ['extra', green]], workflow: 'multi_image_blend', screenshot: '04-multi-image-blend' }))
  t.test('sketch to image', t => imageTool(t, 'sketch_to_image', { prompt: 'a cottage in watercolour', uploads: [['input', sketch]], workflow: 'sketch_to_image', screenshot: '05-sketch-to-image' }))

  // ---- video tools: the video studio
  const videoTool = async (t: Test, tool: string, opts: { fill: () => Promise<void>, button?: string, sentWorkflow: string, workflow: string, screenshot: string, check?: (sent: Record<string, any>, job: any) => void }) => {
    if (await page.locator('#video-tool-selector-overlay').isHidden()) await page.locator('button[onclick="navigateTo(\'motion\'); showVideoToolMenu();"]:visible').first().click()
    await page.locator(`button[onclick="selectVideoTool('${tool}')"]`).click()
    await opts.fill()
    const { status, sent, jobId, bodyBytes } = await submit(opts.button ?? '#btn-motion-generate')
    t.equal(status, 200, `${tool}: the page's own request is accepted (${Math.round(bodyBytes / 1024)} kB)`)
    t.equal(sent.workflow, opts.sentWorkflow, `the page names the workflow ${opts.sentWorkflow}`)
    await page.waitForFunction(id => {
      const video = document.querySelector('#motion-video-player') as HTMLVideoElement | null
      return video !== null && video.src.includes(id) && video.readyState >= 2 && video.videoWidth > 0
    }, jobId, { timeout: RESULT_TIMEOUT })
    const job = await row(jobId)
    t.equal(job.workflow, opts.workflow, `${opts.sentWorkflow} runs as ${opts.workflow}`)
    t.equal(job.status, 'finished')
    opts.check?.(sent, job)
    await page.locator('#motion-status').filter({ hasText: '生成完成' }).waitFor()
    await shoot(opts.screenshot)
    results.push({ tool: `${tool}${opts.button === '#btn-motion-generate-multi' ? ' (multi)' : ''}`, workflow: job.workflow, output: await page.locator('#motion-video-player').getAttribute('src') ?? '', screenshot: `${opts.screenshot}.png` })
  }

  t.test('text to video', t => videoTool(t, 't2v_veo3', {
    fill: () => page.locator('#motion-prompt-input').fill('waves rolling onto a beach'),
    sentWorkflow: 'T2V',
    workflow: 'text_to_video',
    screenshot: '06-text-to-video'
  }))
  t.test('first/last-frame video', t => videoTool(t, 'flf_veo3', {
    fill: async () => {
      await pick('#zone-first_frame', red)
      await page.locator('#preview-first_frame').waitFor({ state: 'visible' })
      await pick('#zone-last_frame', blue)
      await page.locator('#preview-last_frame').waitFor({ state: 'visible' })
      await page.locator('#motion-prompt-input').fill('the portrait turns into the sea')
    },
    sentWorkflow: 'FLF',
    workflow: 'first_last_frame_video',
    screenshot: '07-first-last-frame-video',
    check: sent => t.same(Object.keys(sent.images).sort(), ['first_frame', 'last_frame'])
  }))
  t.test('long video, one prompt', t => videoTool(t, 'veo3_long_video', {
    fill: async () => {
      for (const [i, shot] of shots.entries()) {
        await pick(`#motion-shot-${i + 1}`, shot)
        await page.locator(`#motion-preview-${i + 1}`).waitFor({ state: 'visible' })
      }
      await page.locator('#motion-prompt-input').fill('a journey through five places')
    },
    sentWorkflow: 'veo3_long_video',
    workflow: 'image_to_video',
    screenshot: '08-long-video-single',
    check: (sent, job) => {
      t.equal(sent.mode, 'single')
      t.same(Object.keys(sent.images).sort(), ['shot1', 'shot2', 'shot3', 'shot4', 'shot5'], 'five photos in one body')
      t.equal(json(job.inputs).shots.length, 5, 'the job has the five shots, in order')
    }
  }))
  t.test('long video, a prompt per segment', t => videoTool(t, 'veo3_long_video', {
    fill: async () => {
      // the video studio's menu renders the shot slots anew: the shots are picked again, as a user would
      for (const [i, shot] of shots.slice(0, 3).entries()) {
        await pick(`#motion-shot-${i + 1}`, shot)
        await page.locator(`#motion-preview-${i + 1}`).waitFor({ state: 'visible' })
      }
      await page.locator('#toggle-veo3-mode').click()
      await page.locator('#veo3-segment-0').fill('sunrise over the hills')
      await page.locator('#veo3-segment-1').fill('a busy market at noon')
      await page.locator('#veo3-segment-2').fill('lanterns at night')
    },
    button: '#btn-motion-generate-multi',
    sentWorkflow: 'veo3_long_video',
    workflow: 'image_to_video',
    screenshot: '09-long-video-multi',
    check: (sent, job) => {
      t.equal(sent.mode, 'multi')
      t.same(json(job.prompts), ['sunrise over the hills', 'a busy market at noon', 'lanterns at night'], 'the segments are the job\'s prompts')
    }
  }))

  t.test('avatar', async t => {
    await page.locator('button[onclick="navigateTo(\'avatar\')"]:visible').first().click()
    await pick('#avatar-image-zone', red)
    await page.locator('#avatar-image-preview').waitFor({ state: 'visible' })
    await pick('#avatar-audio-zone', speech)
    await page.locator('#avatar-audio-preview').waitFor({ state: 'visible' })
    await page.locator('#avatar-prompt-input').fill('a friendly greeting')
    const { status, sent, jobId } = await submit('#avatar-generate-btn')
    t.equal(status, 200)
    t.equal(sent.workflow, 'virtual_human')
    t.match(sent.audio, /^data:audio\/(wav|x-wav|wave);base64,/, 'the sound sent as a data: URL')
    await page.waitForFunction(id => {
      const video = document.querySelector('#avatar-video-player') as HTMLVideoElement | null
      return video !== null && video.src.includes(id) && video.readyState >= 2 && video.videoWidth > 0
    }, jobId, { timeout: RESULT_TIMEOUT })
    const job = await row(jobId)
    t.equal(job.workflow, 'talking_avatar', 'virtual_human runs as talking_avatar')
    t.same(Object.keys(json(job.inputs)).sort(), ['audio', 'avatar'])
    await shoot('10-avatar')
    results.push({ tool: 'virtual_human', workflow: job.workflow, output: await page.locator('#avatar-video-player').getAttribute('src') ?? '', screenshot: '10-avatar.png' })
  })

  t.test('the gallery lists every job', async t => {
    await page.locator('button[onclick="navigateTo(\'gallery\')"]:visible').first().click()
    await page.waitForFunction(n => document.querySelectorAll('#gallery-grid .glass-card').length === n, results.length, { timeout: 30_000 })
    const names = await page.locator('#gallery-grid .glass-card .text-sm.font-bold').allTextContents()
    t.same([...names].sort(), results.map(r => r.workflow).sort(), 'one card per job, under its workflow')
    await shoot('11-gallery')
    const [owners] = await sys.db.pool.query('SELECT DISTINCT owner FROM jobs') as any
    const [user] = await sys.db.pool.query('SELECT id FROM users WHERE email = ?', [first.email]) as any
    t.same(owners.map((o: any) => o.owner), [`user:${user[0].id}`], 'every job is the user\'s')
  })

  t.test('logout (profile.html), then a second user sees none of the first user\'s jobs', async t => {
    const second = { name: 'Ravi', email: `ravi-${randomBytes(3).toString('hex')}@example.com`, password: 'ravi studio password' }
    await withCdnScripts(page, aborted, async () => {
      // the gallery covers the studio: back to its home view, whose top bar links to the profile
      await page.locator('button[onclick="navigateTo(\'dashboard\')"]:visible').first().click()
      await page.locator('#topbar-user').waitFor({ state: 'visible' })
      await page.locator('#topbar-user').click()
      await page.waitForURL(`${ORIGINAL_ORIGIN}/profile.html`)
      await iconsDrawn()
      await page.locator('#logout-btn').waitFor({ state: 'visible' })
      await shoot('12-profile')
      const loggedOut = page.waitForResponse(res => pathOf(res.url()) === '/api/logout')
      await page.locator('#logout-btn').click()
      t.equal((await loggedOut).status(), 200, 'the page logs out')
      await page.waitForURL(`${ORIGINAL_ORIGIN}/login.html`)
      await iconsDrawn()
      t.notOk((await browser.context.cookies()).some(c => c.name === 'cj_session'), 'the cookie is gone')
      await signUpAndLogIn(t, second)
    })
    await page.locator('button[onclick="navigateTo(\'gallery\')"]:visible').first().click()
    await page.locator('#gallery-grid').filter({ hasText: '目前沒有歷史記錄' }).waitFor({ timeout: 30_000 })
    t.equal(await page.locator('#gallery-grid .glass-card').count(), 0, 'the second user\'s gallery is empty')
    await shoot('13-second-user-gallery')
  })

  t.test('nothing failed', async t => {
    t.same(apiFailures, [], 'no API request failed')
    t.same(pageErrors, [], 'no uncaught error in the page')
    const fromApi = consoleErrors.filter(e => ours(e.url))
    t.same(fromApi, [], 'no console error caused by the API')
    t.ok(missingFiles.every(f => lackedFiles.test(f.split(' ')[1])), `the pages' files that are not found are those the folder lacks (${new Set(missingFiles).size})`)
    for (const call of ['POST /api/register 201', 'POST /api/login 200', 'GET /api/me 200', 'POST /api/logout 200']) t.ok(accountCalls.includes(call), `the pages made ${call}`)
    t.equal(accountCalls.filter(c => c.startsWith('POST /api/register')).length, 2, 'two users registered')
    t.ok(aborted.every(url => !url.startsWith(ORIGINAL_ORIGIN)), `only outside hosts were aborted (${new Set(aborted.map(u => new URL(u).host)).size} hosts)`)
    t.comment(`results:\n${results.map(r => `  ${r.tool} → ${r.workflow}: ${r.output} (${r.screenshot})`).join('\n')}`)
  })
})
