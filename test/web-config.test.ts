// The web clients' settings are read and checked with the rest of the gateway's configuration
// (test/config.test.ts shows a bad value stops start-up; this checks these variables' rules).
import t from 'tap'
import { resolve } from 'node:path'
import { loadConfig } from '../services/gateway/src/config.ts'

t.test('defaults', async t => {
  const config = loadConfig({})
  t.equal(config.uploadDir, resolve('./data/uploads'))
  t.equal(config.uploadMaxBytes, 10 * 1024 * 1024)
  t.equal(config.inputMaxPixels, 40_000_000)
  t.equal(config.inputMaxSide, 16384)
  t.equal(config.sseKeepAliveMs, 15_000)
  t.equal(config.bodyLimitBytes, 64 * 1024)
  t.ok(config.generateBodyLimitBytes >= 64 * 1024 + 5 * Math.ceil(10 * 1024 * 1024 / 3) * 4, 'a submit may carry five files of UPLOAD_MAX_BYTES as data: URLs')
  t.equal(config.webRoot, null, 'the built-in page')
})

t.test('the submit body limit follows the upload limit unless set', async t => {
  t.ok(loadConfig({ UPLOAD_MAX_BYTES: '1048576' }).generateBodyLimitBytes > 5 * 1048576 * 4 / 3)
  t.equal(loadConfig({ GENERATE_BODY_LIMIT_BYTES: '2000000' }).generateBodyLimitBytes, 2_000_000)
  t.throws(() => loadConfig({ BODY_LIMIT_BYTES: '100000', GENERATE_BODY_LIMIT_BYTES: '50000' }), /invalid configuration: GENERATE_BODY_LIMIT_BYTES=/, 'never below BODY_LIMIT_BYTES')
})

t.test('WEB_ROOT: an existing directory, else start-up stops naming it', async t => {
  t.equal(loadConfig({ WEB_ROOT: import.meta.dirname }).webRoot, import.meta.dirname)
  t.throws(() => loadConfig({ WEB_ROOT: '/nonexistent/pages' }), /invalid configuration: WEB_ROOT="\/nonexistent\/pages": expected an existing directory/)
  t.throws(() => loadConfig({ WEB_ROOT: import.meta.filename }), /invalid configuration: WEB_ROOT=/, 'a file is not a directory')
})

t.test('set values are used', async t => {
  const config = loadConfig({ UPLOAD_DIR: '/tmp/up', UPLOAD_MAX_BYTES: '2048', INPUT_MAX_PIXELS: '1000000', INPUT_MAX_SIDE: '2000', SSE_KEEPALIVE_MS: '250' })
  t.same([config.uploadDir, config.uploadMaxBytes, config.inputMaxPixels, config.inputMaxSide, config.sseKeepAliveMs], ['/tmp/up', 2048, 1_000_000, 2000, 250])
})

t.test('bad values are refused naming the variable', async t => {
  for (const [name, value] of [['UPLOAD_MAX_BYTES', '10MB'], ['UPLOAD_MAX_BYTES', '0'], ['INPUT_MAX_PIXELS', '0'], ['INPUT_MAX_SIDE', '16k'], ['SSE_KEEPALIVE_MS', '0'], ['SSE_KEEPALIVE_MS', 'often']]) {
    t.throws(() => loadConfig({ [name]: value }), new RegExp(`invalid configuration: ${name}=`), `${name}=${value}`)
  }
})
