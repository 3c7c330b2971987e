import type { FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { GatewayConfig } from './config.ts'
import configPlugin from './plugins/config.ts'
import errorHandler from './plugins/error-handler.ts'
import jsonBody from './plugins/json-body.ts'
import drain from './plugins/drain.ts'
import rateLimitPlugin from './plugins/rate-limit.ts'
import securityHeaders from './plugins/security-headers.ts'
import corsPlugin from './plugins/cors.ts'
import crossSite from './plugins/cross-site.ts'
import mysqlPlugin from './plugins/mysql.ts'
import prismaPlugin from './plugins/prisma.ts'
import redisPlugin from './plugins/redis.ts'
import queuePlugin from './plugins/queue.ts'
import ingestPlugin from './plugins/ingest.ts'
import jobsPlugin from './plugins/jobs.ts'
import sweeperPlugin from './plugins/sweeper.ts'
import partFilesPlugin from './plugins/part-files.ts'
import uploadRetentionPlugin from './plugins/upload-retention.ts'
import metricsPlugin from './plugins/metrics.ts'
import uploadsPlugin from './plugins/uploads.ts'
import openapiPlugin from './plugins/openapi.ts'
import grpcServerPlugin from './plugins/grpc-server.ts'
import authPlugin from './plugins/auth.ts'
import accountsPlugin from './plugins/accounts.ts'
import accountRoutes from './routes/accounts/index.ts'
import accountKeysRoute from './routes/accounts/keys.ts'
import keysRoute from './routes/keys/index.ts'
import generateRoute from './routes/generate/index.ts'
import statusRoute from './routes/status/index.ts'
import cancelRoute from './routes/cancel/index.ts'
import healthRoute from './routes/health/index.ts'
import readyRoute from './routes/ready/index.ts'
import outputsRoute from './routes/outputs/index.ts'
import jobRoutes from './routes/jobs/index.ts'
import historyRoute from './routes/history/index.ts'
import queueMetricsRoute from './routes/queue-metrics/index.ts'
import prometheusRoute from './routes/prometheus/index.ts'
import uploadRoute from './routes/upload/index.ts'
import webRoute from './routes/web/index.ts'
import workflowsRoute from './routes/workflows/index.ts'
import modelsRoute from './routes/models/index.ts'
import webhooksPlugin from './plugins/webhooks.ts'
import webhooksRoute from './routes/webhooks/index.ts'

export interface AppOptions {
  config: GatewayConfig
}

/** The gateway as a Fastify plugin: infrastructure plugins first, then the routes. */
export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  await app.register(configPlugin, { config: opts.config })
  await app.register(errorHandler)
  await app.register(securityHeaders)
  await app.register(corsPlugin)
  await app.register(crossSite)
  await app.register(openapiPlugin)
  await app.register(jsonBody)
  await app.register(drain)
  await app.register(rateLimitPlugin)
  await app.register(mysqlPlugin)
  await app.register(prismaPlugin)
  await app.register(redisPlugin)
  await app.register(accountsPlugin)
  await app.register(authPlugin)
  await app.register(queuePlugin)
  await app.register(metricsPlugin)
  await app.register(uploadsPlugin)
  await app.register(ingestPlugin)
  await app.register(jobsPlugin)
  await app.register(webhooksPlugin)
  await app.register(sweeperPlugin)
  await app.register(partFilesPlugin)
  await app.register(uploadRetentionPlugin)
  await app.register(grpcServerPlugin)
  await app.register(generateRoute)
  await app.register(statusRoute)
  await app.register(cancelRoute)
  await app.register(healthRoute)
  await app.register(readyRoute)
  await app.register(outputsRoute)
  await app.register(jobRoutes)
  await app.register(historyRoute)
  await app.register(queueMetricsRoute)
  await app.register(prometheusRoute)
  await app.register(uploadRoute)
  await app.register(webRoute)
  await app.register(workflowsRoute)
  await app.register(modelsRoute)
  await app.register(webhooksRoute)
  await app.register(keysRoute)
  await app.register(accountRoutes)
  await app.register(accountKeysRoute)
}
