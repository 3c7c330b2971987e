import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { GatewayConfig } from './config.ts'
import configPlugin from './plugins/config.ts'
import errorHandler from './plugins/error-handler.ts'
import jsonBody from './plugins/json-body.ts'
import mysqlPlugin from './plugins/mysql.ts'
import prismaPlugin from './plugins/prisma.ts'
import redisPlugin from './plugins/redis.ts'
import queuePlugin from './plugins/queue.ts'
import ingestPlugin from './plugins/ingest.ts'
import jobsPlugin from './plugins/jobs.ts'
import grpcServerPlugin from './plugins/grpc-server.ts'
import generateRoute from './routes/generate/index.ts'
import statusRoute from './routes/status/index.ts'
import healthRoute from './routes/health/index.ts'
import outputsRoute from './routes/outputs/index.ts'

export interface AppOptions {
  config: GatewayConfig
}

/** The gateway as a Fastify plugin: infrastructure plugins first, then the routes. */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  await app.register(configPlugin, { config: opts.config })
  await app.register(errorHandler)
  await app.register(jsonBody)
  await app.register(mysqlPlugin)
  await app.register(prismaPlugin)
  await app.register(redisPlugin)
  await app.register(queuePlugin)
  await app.register(ingestPlugin)
  await app.register(jobsPlugin)
  await app.register(grpcServerPlugin)
  await app.register(generateRoute)
  await app.register(statusRoute)
  await app.register(healthRoute)
  await app.register(outputsRoute)
}
