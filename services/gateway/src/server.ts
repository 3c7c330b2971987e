import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { loadConfig, type GatewayConfig } from './config.ts'

// The one file that touches the process: config, listen, signals.
let config: GatewayConfig
try {
  config = loadConfig()
} catch (err) {
  console.error(`gateway: ${(err as Error).message}`)
  process.exit(1)
}

// The app is loaded only once the config is known good, so a bad value stops the process at once.
const { buildApp } = await import('./build.ts')
const logger = pino({ level: config.logLevel, base: { service: 'gateway' } })
let app: Awaited<ReturnType<typeof buildApp>>
try {
  app = await buildApp(config, logger)
} catch (err) {
  // e.g. AUTH unset on a non-loopback address with no API key: the message says what to do
  console.error(`gateway: ${(err as Error).message}`)
  process.exit(1)
}

closeWithGrace({ delay: Number(process.env.SHUTDOWN_GRACE_MS ?? 10000) }, async ({ signal, err }) => {
  if (err) logger.error({ err }, 'gateway closing after an error')
  else logger.info({ signal }, 'gateway closing')
  await app.close()
})

await app.listen({ host: config.host, port: config.port })
logger.info({ port: (app.server.address() as { port: number }).port, workers: config.workerAddresses }, 'gateway ready')
