// The web clients' settings are read and checked with the rest of the gateway's configuration
// (test/config.test.ts shows a bad value stops start-up; this checks these variables' rules).
import t from 'tap'
import { resolve } from 'node:path'
import { loadConfig } from '../services/gateway/src/config.ts'

t.test('defaults', async t => {
  const config = loadConfig({})
  t.equal(config.uploadDir, resolve('./data/uploads'))
  t.equal(config.uploadMaxBytes, 10 * 1024 * 1024)
  t.equal(config.sseKeepAliveMs, 15_000)
})

t.test('set values are used', async t => {
  const config = loadConfig({ UPLOAD_DIR: '/tmp/up', UPLOAD_MAX_BYTES: '2048', SSE_KEEPALIVE_MS: '250' })
  t.same([config.uploadDir, config.uploadMaxBytes, config.sseKeepAliveMs], ['/tmp/up', 2048, 250])
})

t.test('bad values are refused naming the variable', async t => {
  for (const [name, value] of [['UPLOAD_MAX_BYTES', '10MB'], ['UPLOAD_MAX_BYTES', '0'], ['SSE_KEEPALIVE_MS', '0'], ['SSE_KEEPALIVE_MS', 'often']]) {
    t.throws(() => loadConfig({ [name]: value }), new RegExp(`invalid configuration: ${name}=`), `${name}=${value}`)
  }
})
