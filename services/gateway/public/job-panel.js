import { relative, watchJob } from './api.js'

const TERMINAL = new Set(['finished', 'failed', 'cancelled'])
const LABELS = { queued: 'Queued', processing: 'Processing', finished: 'Finished', failed: 'Failed', cancelled: 'Cancelled' }

/** The "current job" panel: follows one job's live events and shows its progress and image. */
export class JobPanel {
  #source = null
  #onEnd
  #state = {}

  constructor (root, { onEnd }) {
    this.#onEnd = onEnd
    this.status = root.querySelector('#job-status')
    this.jobId = root.querySelector('#job-id')
    this.bar = root.querySelector('#job-progress')
    this.label = root.querySelector('#job-progress-label')
    this.result = root.querySelector('#result')
    this.image = root.querySelector('#result-image')
    this.link = root.querySelector('#result-link')
    this.caption = root.querySelector('#result-caption')
  }

  follow (jobId, prompt = '') {
    this.#source?.close()
    this.result.hidden = true
    this.jobId.textContent = `Job ${jobId}`
    this.prompt = prompt
    this.#state = {}
    this.#show({ status: 'queued', progress: 0 })
    const source = watchJob(jobId)
    this.#source = source
    const onData = message => this.#apply(JSON.parse(message.data), source)
    for (const type of ['snapshot', 'processing', 'progress', 'finished', 'failed', 'cancelled']) source.addEventListener(type, onData)
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CONNECTING) this.status.textContent = 'Connection lost; reconnecting…'
    })
  }

  #apply (data, source) {
    this.#show(data)
    if (TERMINAL.has(data.status)) {
      source.close() // otherwise EventSource reconnects after the stream ends
      if (this.#source === source) this.#source = null
      this.#onEnd?.(data)
    }
  }

  #show (update) {
    // events carry only what changed: keep the last known step, total and node
    const data = this.#state = { ...this.#state, ...Object.fromEntries(Object.entries(update).filter(([, v]) => v !== '' && v !== 0 && v != null)) }
    if (update.progress === 0) data.progress = 0
    const status = data.status
    if (status === 'finished' && data.total_steps) data.step = data.total_steps
    const progress = Number.isInteger(data.progress) ? data.progress : 0
    this.bar.value = progress
    const steps = data.total_steps ? `step ${data.step ?? 0}/${data.total_steps}` : ''
    const node = data.node && status === 'processing' ? `node ${data.node}` : ''
    this.label.textContent = [`${progress}%`, steps, node].filter(Boolean).join(' · ')
    this.status.textContent = status === 'failed' || status === 'cancelled'
      ? `${LABELS[status]}: ${data.error || 'no reason given'}`
      : LABELS[status] ?? status
    this.status.dataset.status = status
    if (status === 'finished' && data.image_url) {
      this.image.src = relative(data.image_url)
      this.image.alt = this.prompt ? `Generated image: ${this.prompt}` : 'Generated image'
      this.link.href = relative(data.image_url)
      const first = data.outputs?.[0]
      this.caption.textContent = first ? `${first.width} × ${first.height}, ${Math.round(first.bytes / 1024)} KiB` : ''
      this.result.hidden = false
    }
  }
}
