import fp from 'fastify-plugin'
import { UploadStore } from '../uploads/upload-store.ts'

declare module 'fastify' {
  interface FastifyInstance {
    uploads: UploadStore
  }
}

/** Input images uploaded for image workflows (UPLOAD_DIR). */
export default fp(async (app) => {
  const uploads = new UploadStore(app.config.uploadDir, app.config.uploadMaxBytes)
  await uploads.init()
  app.decorate('uploads', uploads)
}, { name: 'uploads', dependencies: ['config'] })
