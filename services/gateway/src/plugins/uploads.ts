import fp from 'fastify-plugin'
import { UploadStore } from '../uploads/upload-store.ts'
import { UploadQuota } from '../limits/upload-quota.ts'

declare module 'fastify' {
  interface FastifyInstance {
    uploads: UploadStore
    /** uploads per owner (UPLOAD_MAX_FILES_PER_OWNER, UPLOAD_MAX_BYTES_PER_OWNER) */
    uploadQuota: UploadQuota
  }
}

/** Input files (images, sounds) for workflows that take them (UPLOAD_DIR). */
export default fp(async (app) => {
  const { uploadDir, uploadMaxBytes, inputMaxPixels, inputMaxSide } = app.config
  const uploads = new UploadStore(uploadDir, { maxBytes: uploadMaxBytes, maxPixels: inputMaxPixels, maxSide: inputMaxSide })
  await uploads.init()
  app.decorate('uploads', uploads)
  // while auth is off every upload is `local`'s: the rate per address and retention bound them then
  const on = app.auth.required
  app.decorate('uploadQuota', new UploadQuota({
    redis: app.redis,
    queueName: app.config.queueName,
    maxFiles: on ? app.config.uploadMaxFilesPerOwner : 0,
    maxBytes: on ? app.config.uploadMaxBytesPerOwner : 0,
    windowMs: app.config.uploadRetentionSeconds * 1000,
    timeoutMs: app.config.redisCommandTimeoutMs,
    logger: app.log.child({ component: 'upload-quota' })
  }))
}, { name: 'uploads', dependencies: ['config', 'auth', 'redis'] })
