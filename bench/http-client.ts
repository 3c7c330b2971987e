import { Pool } from 'undici'

/** An undici pool with one connection per concurrent caller; a non-2xx answer is thrown. */
export class HttpClient {
  readonly #pool: Pool
  /** sent with every request (e.g. an API key's Authorization) */
  readonly #headers: Record<string, string>

  constructor (baseUrl: string, connections: number, headers: Record<string, string> = {}) {
    this.#pool = new Pool(baseUrl, { connections, pipelining: 1 })
    this.#headers = headers
  }

  async get (path: string): Promise<any> {
    return this.#answer(await this.#pool.request({ path, method: 'GET', headers: this.#headers }))
  }

  async getText (path: string): Promise<string> {
    return this.#text(await this.#pool.request({ path, method: 'GET' }))
  }

  async post (path: string, body: unknown): Promise<any> {
    return this.#answer(await this.#pool.request({ path, method: 'POST', headers: { ...this.#headers, 'content-type': 'application/json' }, body: JSON.stringify(body) }))
  }

  async #answer (res: Awaited<ReturnType<Pool['request']>>): Promise<any> {
    return JSON.parse(await this.#text(res))
  }

  async #text (res: Awaited<ReturnType<Pool['request']>>): Promise<string> {
    const text = await res.body.text()
    if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`)
    return text
  }

  close (): Promise<void> {
    return this.#pool.close()
  }
}
