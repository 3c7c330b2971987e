/** What the bar shows of a status snapshot or a live event. */
export interface ProgressUpdate {
  status: string
  progress?: number
  step?: number
  total_steps?: number
  node?: string
}

const WIDTH = 30

/** A one-line terminal progress bar; on a non-TTY stream it prints one line per change instead. */
export class ProgressBar {
  readonly #out: NodeJS.WriteStream
  #last = ''
  #steps = { step: 0, total: 0 }

  constructor (out: NodeJS.WriteStream) {
    this.#out = out
  }

  update (data: ProgressUpdate): void {
    if (data.total_steps) this.#steps.total = data.total_steps
    if (data.step) this.#steps.step = data.step
    if (data.status === 'finished' && this.#steps.total) this.#steps.step = this.#steps.total
    const progress = data.progress ?? 0
    const filled = Math.round(progress * WIDTH / 100)
    const steps = this.#steps.total ? ` step ${this.#steps.step}/${this.#steps.total}` : ''
    const node = data.node && data.status === 'processing' ? ` ${data.node}` : ''
    const line = `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${String(progress).padStart(3)}% ${data.status ?? ''}${steps}${node}`
    if (line === this.#last) return
    this.#last = line
    if (this.#out.isTTY) this.#out.write(`\r\x1b[2K${line}`)
    else this.#out.write(`${line}\n`)
  }

  done (): void {
    if (this.#out.isTTY && this.#last) this.#out.write('\n')
  }
}
