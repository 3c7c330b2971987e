import { createServer, request, type Server } from 'node:http'
import { freePort } from './ports.ts'

/** A reverse proxy that serves the gateway under a path prefix (as /prefix/...), streaming both ways. */
export class PrefixProxy {
  port = 0
  #server: Server | null = null

  constructor (readonly targetPort: number, readonly prefix: string) {}

  get url (): string {
    return `http://127.0.0.1:${this.port}${this.prefix}/`
  }

  async start (): Promise<void> {
    this.port = await freePort()
    this.#server = createServer((req, res) => {
      if (!req.url?.startsWith(`${this.prefix}/`)) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`outside ${this.prefix}/`)
        return
      }
      const upstream = request({
        host: '127.0.0.1',
        port: this.targetPort,
        method: req.method,
        path: req.url.slice(this.prefix.length),
        headers: req.headers
      }, answer => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      })
      upstream.on('error', () => res.destroy())
      res.on('close', () => upstream.destroy())
      req.pipe(upstream)
    })
    await new Promise<void>(resolve => this.#server!.listen(this.port, '127.0.0.1', resolve))
  }

  /** Cuts every open connection (event streams included), as a proxy restart would; it keeps listening. */
  dropConnections (): void {
    this.#server?.closeAllConnections()
  }

  async stop (): Promise<void> {
    this.#server?.closeAllConnections()
    await new Promise(resolve => this.#server?.close(resolve))
  }
}
