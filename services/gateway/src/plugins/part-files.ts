import fp from 'fastify-plugin'
import { PartFileSweeper } from '../sweeper/part-files.ts'

/** A temporary file untouched this long belongs to no live transfer. */
const MAX_AGE_MS = 60 * 60_000
const EVERY_MS = 10 * 60_000

/** Removes the `.part` files of uploads and outputs a killed gateway left behind: at start, then every 10 minutes. */
export default fp(async (app) => {
  const sweeper = new PartFileSweeper([app.uploads.dir, app.outputs.dir], MAX_AGE_MS, app.log.child({ component: 'part-files' }))
  app.addHook('onReady', async () => { await sweeper.start(EVERY_MS) })
  app.addHook('onClose', async () => { sweeper.stop() })
}, { name: 'part-files', dependencies: ['uploads', 'ingest'] })
