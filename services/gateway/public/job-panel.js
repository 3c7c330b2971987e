import { apiKey, cancelJob, describeError, getJob, outputUrl, watchJob } from './api.js'
import { describeOutput, downloadLink, kindOf, player } from './media.js'

const TERMINAL = new Set(['finished', 'failed', 'cancelled'])
/** Times in a row a stream may be refused (its signed URL expired) and opened again on a new one. */
const MAX_RESIGNS = 3
const LABELS = { queued: 'Queued', processing: 'Processing', finished: 'Finished', failed: 'Failed', cancelled: 'Cancelled' }

/**
 * The "current job" panel: follows one job's live events and shows its progress, what it was asked
 * (the seed it used, the whole prompt) and what it made, with players and downloads; it can cancel it.
 */
export class JobPanel {
  #source = null
  #onEnd
  #state = {}
  #jobId = null
  #resigns = 0

  constructor (root, { onEnd }) {
    this.#onEnd = onEnd
    this.status = root.querySelector('#job-status')
    this.jobId = root.querySelector('#job-id')
    this.meta = root.querySelector('#job-meta')
    this.promptBox = root.querySelector('#job-prompt')
    this.promptText = root.querySelector('#job-prompt-text')
    this.bar = root.querySelector('#job-progress')
    this.label = root.querySelector('#job-progress-label')
    this.cancel = root.querySelector('#job-cancel')
    this.result = root.querySelector('#result')
    this.cancel.addEventListener('click', () => this.#cancel())
  }

  follow (jobId, prompt = '') {
    this.#source?.close()
    this.#source = null
    this.#jobId = jobId
    this.result.hidden = true
    this.result.replaceChildren()
    this.jobId.textContent = `Job ${jobId}`
    this.meta.textContent = ''
    this.prompt = prompt
    this.promptText.textContent = prompt
    this.promptBox.hidden = !prompt
    this.#state = {}
    this.#show({ status: 'queued', progress: 0 })
    this.#resigns = 0
    void this.#watch(jobId)
    void this.#describe(jobId)
  }

  /** Follows the current job again (its stream was refused for want of a key, and now there is one). */
  resume () {
    if (this.#jobId && !TERMINAL.has(this.#state.status)) this.follow(this.#jobId, this.prompt)
  }

  async #watch (jobId, fresh = false) {
    let source
    try {
      source = await watchJob(jobId, { fresh })
    } catch (err) {
      if (jobId === this.#jobId) this.status.textContent = `Cannot follow this job: ${describeError(err)}`
      return
    }
    if (jobId !== this.#jobId || this.#source) {
      source.close() // another job was chosen (or a stream opened) meanwhile
      return
    }
    this.#source = source
    const onData = message => {
      this.#resigns = 0
      this.#apply(JSON.parse(message.data), source)
    }
    for (const type of ['snapshot', 'queued', 'processing', 'progress', 'finished', 'failed', 'cancelled']) source.addEventListener(type, onData)
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CONNECTING) this.status.textContent = 'Connection lost; reconnecting…'
      // refused for good (with a key: the signed URL expired): open it again on a new signed URL
      if (source.readyState === EventSource.CLOSED && apiKey.value && this.#source === source && this.#resigns < MAX_RESIGNS) {
        this.#source = null
        this.#resigns++
        void this.#watch(jobId, true)
      }
    })
  }

  /** What the job was asked, from its record: the seed it used (never -1), workflow, model, prompt. */
  async #describe (jobId) {
    try {
      const job = await getJob(jobId)
      if (jobId !== this.#jobId) return
      this.meta.textContent = `Seed ${job.params.seed} · ${job.workflow} · ${job.model}`
      this.prompt = job.prompt
      this.promptText.textContent = job.prompt
      this.promptBox.hidden = !job.prompt
      if (this.#state.status === 'finished') this.#showOutputs(this.#state)
    } catch {
      this.meta.textContent = ''
    }
  }

  async #cancel () {
    const jobId = this.#jobId
    this.cancel.disabled = true
    try {
      await cancelJob(jobId)
    } catch (err) {
      if (jobId === this.#jobId) this.status.textContent = `Could not cancel: ${describeError(err)}`
    } finally {
      this.cancel.disabled = false
    }
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
    this.status.textContent = (status === 'failed' || status === 'cancelled') && data.error && data.error !== status
      ? `${LABELS[status]}: ${data.error}`
      : LABELS[status] ?? status
    this.status.dataset.status = status
    this.cancel.hidden = TERMINAL.has(status)
    if (status === 'finished') this.#showOutputs(data)
  }

  async #showOutputs (data) {
    const jobId = this.#jobId
    const outputs = data.outputs?.length
      ? data.outputs
      : data.image_url ? [{ url: data.image_url, kind: kindOf(data.image_url) }] : []
    let urls
    try {
      urls = await Promise.all(outputs.map(output => outputUrl(jobId, output.url)))
    } catch (err) {
      if (jobId === this.#jobId) this.status.textContent = `Finished, but its outputs cannot be shown: ${describeError(err)}`
      return
    }
    if (jobId !== this.#jobId) return
    this.result.replaceChildren(...outputs.map((output, i) => {
      const figure = document.createElement('figure')
      figure.dataset.kind = output.kind
      const caption = document.createElement('figcaption')
      caption.textContent = describeOutput(output)
      const label = outputs.length > 1 ? `Download ${i + 1} of ${outputs.length}` : 'Download'
      caption.append(' ', downloadLink(urls[i], output.url, label))
      figure.append(player({ ...output, src: urls[i] }, this.prompt), caption)
      return figure
    }))
    this.result.hidden = outputs.length === 0
  }
}
