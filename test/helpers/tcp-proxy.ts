import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from './ports.ts'

/** A TCP proxy to a target port whose connections the test can cut (and refuse) at will. */
export class TcpProxy {
  port = 0
  #server: Server | null = null
  #sockets = new Set<Socket>()
  #refusing = false
  /** when set, each new connection is cut once the target has sent it this many bytes (drawn per connection) */
  #cutAfter: (() => number) | null = null

  constructor (readonly targetPort: number) {}

  async start (): Promise<void> {
    this.port = await freePort()
    this.#server = createServer(client => {
      if (this.#refusing) { client.destroy(); return }
      const upstream = connect(this.targetPort, '127.0.0.1')
      this.#sockets.add(client).add(upstream)
      const drop = () => { client.destroy(); upstream.destroy(); this.#sockets.delete(client); this.#sockets.delete(upstream) }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      const budget = this.#cutAfter?.() ?? Infinity
      let sent = 0
      upstream.on('data', (chunk: Buffer) => {
        if (sent + chunk.length < budget) { sent += chunk.length; client.write(chunk); return }
        client.write(chunk.subarray(0, Math.max(0, budget - sent)))
        drop()
      })
    })
    await new Promise<void>(resolve => this.#server!.listen(this.port, '127.0.0.1', resolve))
  }

  /** Destroys every open connection; with refuse, new ones are closed at once until resume(). */
  cut (refuse = false): void {
    this.#refusing = refuse
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
  }

  resume (): void {
    this.#refusing = false
    this.#cutAfter = null
  }

  /** From now on, each new connection dies after `bytes()` bytes from the target: mid-handshake, mid-reply, anywhere. */
  cutEachAfter (bytes: () => number): void {
    this.#cutAfter = bytes
  }

  async stop (): Promise<void> {
    this.cut(true)
    await new Promise(resolve => this.#server?.close(resolve))
  }
}
