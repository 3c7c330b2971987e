import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'

/** The metadata key that carries WORKER_LINK_TOKEN on every call of the worker service. */
export const WORKER_LINK_TOKEN_KEY = 'x-worker-link-token'

/** PEM files of the worker link's mutual TLS: this end's certificate and key, and the CA the other end's must chain to. */
export interface WorkerLinkTlsFiles {
  cert: string
  key: string
  ca: string
}

/** How the link between gateways and workers is protected; both ends are configured alike. */
export interface WorkerLinkSecurity {
  /** shared secret sent by gateways and required by workers; null: none */
  token: string | null
  /** mutual TLS; null: plain text */
  tls: WorkerLinkTlsFiles | null
}

export const OPEN_WORKER_LINK: WorkerLinkSecurity = { token: null, tls: null }

interface TlsPem { cert: Buffer, key: Buffer, ca: Buffer }

/** Reads the PEM files, naming the variable of one that cannot be read. */
function readTls (files: WorkerLinkTlsFiles): TlsPem {
  const read = (variable: string, path: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (err) {
      throw new Error(`cannot read ${variable}=${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  return { cert: read('WORKER_TLS_CERT', files.cert), key: read('WORKER_TLS_KEY', files.key), ca: read('WORKER_TLS_CA', files.ca) }
}

/** The worker's listener: with TLS files, a client certificate signed by WORKER_TLS_CA is required. */
export function workerServerCredentials (security: WorkerLinkSecurity): grpc.ServerCredentials {
  if (security.tls === null) return grpc.ServerCredentials.createInsecure()
  const pem = readTls(security.tls)
  return grpc.ServerCredentials.createSsl(pem.ca, [{ cert_chain: pem.cert, private_key: pem.key }], true)
}

/** The gateway's channel to a worker: TLS with its client certificate when configured. */
export function workerChannelCredentials (security: WorkerLinkSecurity): grpc.ChannelCredentials {
  if (security.tls === null) return grpc.credentials.createInsecure()
  const pem = readTls(security.tls)
  return grpc.credentials.createSsl(pem.ca, pem.key, pem.cert)
}

/** A client interceptor that puts the token into the metadata of every call. */
export function linkTokenInterceptor (token: string): grpc.Interceptor {
  return (options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start (metadata, listener, next) {
      metadata.set(WORKER_LINK_TOKEN_KEY, token)
      next(metadata, listener)
    }
  })
}

/**
 * Checks the token of a call in constant time (both sides hashed first, so their lengths do not
 * show either). Always true when the worker has no token.
 */
export function linkTokenCheck (token: string | null): (metadata: grpc.Metadata) => boolean {
  if (token === null) return () => true
  const expected = createHash('sha256').update(token).digest()
  return metadata => {
    const sent = metadata.get(WORKER_LINK_TOKEN_KEY)
    const given = sent.length === 1 ? String(sent[0]) : ''
    const match = timingSafeEqual(createHash('sha256').update(given).digest(), expected)
    return match && sent.length === 1
  }
}
