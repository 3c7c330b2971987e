import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from './ports.ts'

/** One proxied connection: what the client opened and the proxy's own connection to the target. */
export interface Link {
  client: Socket
  upstream: Socket
  /** closes both sides at once */
  drop: () => void
}

/** A TCP proxy to a target port whose connections the test can cut (and refuse) at will. */
export class TcpProxy {
  port = 0
  #server: Server | null = null
  protected readonly links = new Set<Link>()
  /** new connections are closed at once */
  protected refuseNew = false
  /** nothing gets through either way, and nothing is closed: a link gone silent */
  #frozen = false
  /** when set, each new connection is cut once the target has sent it this many bytes (drawn per connection) */
  #cutAfter: (() => number) | null = null

  constructor (readonly targetPort: number) {}

  async start (): Promise<void> {
    if (!this.port) this.port = await freePort()
    this.#server = createServer(client => {
      if (this.refuseNew) { client.destroy(); return }
      const upstream = connect(this.targetPort, '127.0.0.1')
      const link: Link = {
        client,
        upstream,
        drop: () => { client.destroy(); upstream.destroy(); this.links.delete(link) }
      }
      this.links.add(link)
      const clientGone = () => this.clientGone(link)
      client.on('error', clientGone).on('close', clientGone)
      upstream.on('error', link.drop).on('close', link.drop)
      client.on('data', (chunk: Buffer) => { if (!this.#frozen) this.toTarget(link, chunk) })
      const budget = this.#cutAfter?.() ?? Infinity
      let sent = 0
      upstream.on('data', (chunk: Buffer) => {
        if (this.#frozen) return
        if (sent + chunk.length < budget) { sent += chunk.length; this.toClient(link, chunk); return }
        client.write(chunk.subarray(0, Math.max(0, budget - sent)))
        link.drop()
      })
    })
    await new Promise<void>(resolve => this.#server!.listen(this.port, '127.0.0.1', resolve))
  }

  /** The client closed its side (or it failed); by default the target's side goes too. */
  protected clientGone (link: Link): void {
    link.drop()
  }

  /** Bytes from the client on their way to the target; a subclass may hold, drop or inspect them. */
  protected toTarget (link: Link, chunk: Buffer): void {
    link.upstream.write(chunk)
  }

  /** Bytes from the target on their way to the client. */
  protected toClient (link: Link, chunk: Buffer): void {
    link.client.write(chunk)
  }

  /** Destroys every open connection; with refuse, new ones are closed at once until resume(). */
  cut (refuse = false): void {
    this.refuseNew = refuse
    for (const link of [...this.links]) link.drop()
  }

  /** From now on nothing gets through and nothing is closed, as on a link that went silent; resume() cuts what froze. */
  freeze (): void {
    this.#frozen = true
  }

  resume (): void {
    if (this.#frozen) this.cut()
    this.#frozen = false
    this.refuseNew = false
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
