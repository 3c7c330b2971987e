import fp from 'fastify-plugin'
import { UploadRetention } from '../uploads/upload-retention.ts'

/** How often the retention pass runs: a quarter of the retention, between 1 s and 10 minutes. */
function passEveryMs (retentionMs: number): number {
  return Math.min(10 * 60_000, Math.max(1000, Math.floor(retentionMs / 4)))
}

/** Deletes uploads older than UPLOAD_RETENTION_SECONDS that no live job references (off at 0). */
export default fp(async (app) => {
  const retentionMs = app.config.uploadRetentionSeconds * 1000
  if (retentionMs === 0) return
  const retention = new UploadRetention({
    dir: app.uploads.dir,
    retentionMs,
    liveReferences: () => app.jobStore.liveInputNames(),
    log: app.log.child({ component: 'upload-retention' })
  })
  app.addHook('onReady', async () => { retention.start(passEveryMs(retentionMs)) })
  app.addHook('onClose', async () => { await retention.stop() })
}, { name: 'upload-retention', dependencies: ['config', 'uploads', 'ingest'] })
