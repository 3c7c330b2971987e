// The image's HEALTHCHECK for a worker (`node --conditions=comfy-jobs-compiled services/worker/dist/healthcheck.js`):
// asks this container's worker for its gRPC health with the worker's own configuration (port, and its
// mutual TLS files when set) and exits 0 while it takes jobs (SERVING), 1 otherwise, saying why.
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { checkHealth } from '@comfy-jobs/rpc'
import { loadConfig, type WorkerConfig } from './config.ts'

const DEADLINE_MS = 3000

/** The worker listens on every interface or on one address; either way this container reaches it there. */
function localAddress (config: WorkerConfig): string {
  const host = config.grpcHost === '0.0.0.0' || config.grpcHost === '::' ? '127.0.0.1' : config.grpcHost
  return `${host.includes(':') ? `[${host}]` : host}:${config.grpcPort}`
}

/**
 * With mutual TLS the probe presents the worker's own certificate (signed by the CA the worker trusts);
 * the chain is checked, not the name, since the probe dials a local address the certificate need not name.
 */
function credentials (config: WorkerConfig): grpc.ChannelCredentials {
  const tls = config.link.tls
  if (tls === null) return grpc.credentials.createInsecure()
  return grpc.credentials.createSsl(readFileSync(tls.ca), readFileSync(tls.key), readFileSync(tls.cert), { checkServerIdentity: () => undefined })
}

try {
  const config = loadConfig(process.env, { workerId: 'healthcheck' })
  if (config.grpcPort === 0) throw new Error('WORKER_GRPC_PORT=0 (an ephemeral port) cannot be probed; set a port')
  const status = await checkHealth(localAddress(config), '', DEADLINE_MS, credentials(config))
  process.stdout.write(`worker health: ${status}\n`)
  process.exitCode = status === 'SERVING' ? 0 : 1
} catch (err) {
  process.stdout.write(`worker health: no answer: ${(err as Error).message}\n`)
  process.exitCode = 1
}
