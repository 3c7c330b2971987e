import Fastify, { LogController } from 'fastify'
import type { Logger } from 'pino'
import app from './app.ts'
import type { GatewayConfig } from './config.ts'
import { validatorCompiler } from './validation.ts'

/** A ready-to-listen gateway; tests drive it with inject() or a real port. */
export async function buildApp (config: GatewayConfig, logger: Logger) {
  const fastify = Fastify({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // a guard against a plugin that never settles; each dependency's probe has its own, shorter bound,
    // and on a loaded machine merely loading the modules can take tens of seconds
    pluginTimeout: config.startupTimeoutMs,
    requestTimeout: 30_000,
    return503OnClosing: true,
    // one line per job step is logged by the job service; per-request lines would drown them
    logController: new LogController({ disableRequestLogging: true })
  })
  fastify.setValidatorCompiler(validatorCompiler())
  await fastify.register(app, { config })
  return fastify
}
