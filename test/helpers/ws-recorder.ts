import { once } from 'node:events'
import WebSocket from 'ws'

/** A test's own WebSocket client that keeps every text frame it receives. */
export class WsRecorder {
  readonly frames: Array<{ type: string, data: any }> = []
  readonly ws: WebSocket

  private constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data, isBinary) => { if (!isBinary) this.frames.push(JSON.parse(data.toString())) })
  }

  static async open (url: string): Promise<WsRecorder> {
    const ws = new WebSocket(url)
    const recorder = new WsRecorder(ws)
    await once(ws, 'open')
    return recorder
  }

  /** Frame types of one prompt (plus the `status` broadcasts between them), in arrival order. */
  typesFor (promptId: string): string[] {
    return this.frames.filter(f => f.type === 'status' || f.data?.prompt_id === promptId).map(f => f.type)
  }

  async waitFor (pred: (frame: { type: string, data: any }) => boolean, what: string, timeoutMs = 60_000): Promise<{ type: string, data: any }> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.find(pred)
      if (found) return found
      if (Date.now() > deadline) throw new Error(`no ${what} frame within ${timeoutMs} ms; got ${this.frames.map(f => f.type).join(',')}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  close (): void {
    this.ws.terminate()
  }
}
