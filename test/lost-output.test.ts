// A worker dies after reporting FINISHED but before the gateway fetched the image (here: the gateway
// could not reach its database then). The restarted worker no longer holds the image, so that event
// can never be applied. The gateway must not wait for it forever: its link to the worker must come
// back, and the job must still finish, run again from the queue.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { TestSystem } from './helpers/system.ts'
import { TcpProxy } from './helpers/tcp-proxy.ts'

t.test('a FINISHED whose image died with its worker does not stall the link; the job runs again', async t => {
  const sys = await TestSystem.start(t, {
    name: 'lostoutput',
    gateway: false,
    // 2 steps of 400 ms: time to cut the database before the job ends. The rerun comes once the dead
    // worker's lock expires (15 s): long enough to tell a link that recovers at once from one that
    // waits for the rerun to bring back an image of the same name.
    workerEnv: { BUILTIN_STEPS: '2', BUILTIN_STEP_MS: '400', LOCK_DURATION_MS: '15000' }
  })
  const dbProxy = new TcpProxy(3306)
  await dbProxy.start()
  t.teardown(() => dbProxy.stop())
  await sys.startGateway({ DATABASE_URL: sys.db.url.replace(':3306/', `:${dbProxy.port}/`) })
  await sys.waitForWorkersConnected()

  const submitted = await sys.submit({ prompt: 'an image that dies with its worker' })
  t.equal(submitted.status, 200)
  const id = submitted.body.job_id
  await sys.gateway!.waitForLog(l => l.job_id === id && l.msg === 'job started on worker')
  dbProxy.cut(true) // from here the gateway cannot apply this job's events; they wait, unacked
  const worker = sys.workers[0]
  await worker.waitForLog(l => l.job_id === id && l.msg === 'job ended; waiting for the gateway to ack', 120_000)
  await sleep(300) // the FINISHED event is on its way to the gateway
  await worker.kill('SIGKILL')
  await sys.startWorker(0)
  dbProxy.resume()
  const resumedAt = Date.now()
  await sys.gateway!.waitForLog(l => l.msg === 'worker event stream open' && l.time > resumedAt, 120_000)
  t.pass(`the link to the restarted worker is open again ${Date.now() - resumedAt} ms after the database came back`)

  const finished = await sys.waitForStatus(id, s => s.status === 'finished', 120_000)
  t.equal(finished.status, 'finished', 'the job finished after all')
  const runs = sys.gateway!.logs.filter(l => l.job_id === id && l.msg === 'job started on worker')
  t.ok(runs.length >= 1, `its rerun was ingested (${runs.length} start(s) recorded)`)
  t.ok(sys.gateway!.logs.some(l => l.job_id === id && l.msg === 'the worker no longer holds the output; the job is left to the queue, which runs it again'),
    'the gateway said why it let the first FINISHED go')
  const image = await fetch(`${sys.baseUrl}${finished.image_url}`)
  t.equal(image.status, 200, 'and its image is served')

  const next = await sys.submit({ prompt: 'the link is alive' })
  const after = await sys.waitForStatus(next.body.job_id, s => s.status === 'finished', 120_000)
  t.equal(after.status, 'finished', 'a later job goes through the same link')
})
