import * as grpc from '@grpc/grpc-js'

/**
 * Binds a listener (insecure unless credentials say otherwise) and resolves with the bound port
 * (useful with port 0). A failure names the configuration variables that chose the address.
 */
export function bindServer (server: grpc.Server, host: string, port: number, variables: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => {
      if (err) reject(new Error(`cannot listen on ${address} (${variables}): ${err.message}`))
      else resolve(bound)
    })
  })
}

/** tryShutdown, then forceShutdown if calls are still open after timeoutMs; resolves whether it was graceful. */
export async function shutdownServer (server: grpc.Server, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const graceful = await Promise.race([
    new Promise<boolean>(resolve => server.tryShutdown(() => resolve(true))),
    new Promise<boolean>(resolve => { timer = setTimeout(resolve, timeoutMs, false) })
  ])
  clearTimeout(timer)
  if (!graceful) server.forceShutdown()
  return graceful
}
