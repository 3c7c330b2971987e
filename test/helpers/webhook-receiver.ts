import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Webhook } from 'standardwebhooks'

export interface ReceivedWebhook {
  id: string
  timestamp: string
  type: string
  jobId: string
  body: any
  raw: string
  headers: Record<string, string>
  /** the standardwebhooks package accepted the signature with the owner's secret */
  verified: boolean
  receivedAt: number
}

/**
 * A real HTTP receiver on 127.0.0.1 that checks every webhook's signature with an independent
 * implementation (the `standardwebhooks` npm package). `answer` decides each answer (default 204),
 * and may hold it (a slow or hanging receiver).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = []
  #server: Server | null = null
  #secrets: string[] = []
  #waiters: Array<() => void> = []
  answer: (hook: ReceivedWebhook, res: ServerResponse) => void | Promise<void> = (_hook, res) => { res.writeHead(204).end() }

  constructor (readonly port: number) {}

  get url (): string {
    return `http://127.0.0.1:${this.port}/hooks`
  }

  /** The secrets a signature may be made with (the owner's current ones). */
  trust (secrets: string[]): void {
    this.#secrets = secrets
  }

  async start (): Promise<void> {
    // a sender killed mid-request (the webhook test kills a gateway during a delivery) leaves nobody
    // to answer; its 'aborted' must not become an unhandled rejection that fails the test file
    this.#server = createServer((req, res) => { this.#handle(req, res).catch(() => res.destroy()) })
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject)
      this.#server!.listen(this.port, '127.0.0.1', () => resolve())
    })
  }

  async stop (): Promise<void> {
    const server = this.#server
    this.#server = null
    if (server === null) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  /** Resolves once `pred` holds over what has been received. */
  async until (pred: (received: ReceivedWebhook[]) => boolean, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred(this.received)) {
      if (Date.now() > deadline) throw new Error(`webhooks never matched; received: ${JSON.stringify(this.received.map(r => [r.type, r.jobId, r.id]))}`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, 500)
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))
    let verified = false
    for (const secret of this.#secrets) {
      try {
        new Webhook(secret).verify(raw, headers)
        verified = true
      } catch {}
    }
    const body = JSON.parse(raw)
    const hook: ReceivedWebhook = {
      id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], type: body.type, jobId: body.data?.job_id, body, raw, headers, verified, receivedAt: Date.now()
    }
    this.received.push(hook)
    for (const wake of this.#waiters.splice(0)) wake()
    await this.answer(hook, res)
  }
}
