import { cancelJob, getHistory, getStatus, outputUrl, relative } from './api.js'
import { LIVE, historyCard } from './history-card.js'

const PAGE_SIZE = 12
/** How often live cards ask for their job's status (one request per live card on the page). */
const LIVE_POLL_MS = 1000

/**
 * Past jobs, newest first, a page at a time. Pages follow the `before` cursor, so a page does not
 * shift while new jobs arrive. Cards of live jobs follow their status until the job ends.
 */
export class Gallery {
  #cursors = [undefined] // `before` of each page visited; the last one is the current page
  #shownBefore = 0 // jobs on the newer pages
  #pageSizes = []
  #jobs = new Map() // id → the job as its card shows it
  #timer = null
  #onSelect

  constructor (root, { onSelect }) {
    this.list = root.querySelector('#gallery')
    this.info = root.querySelector('#page-info')
    this.newer = root.querySelector('#page-newer')
    this.older = root.querySelector('#page-older')
    this.#onSelect = onSelect
    this.newer.addEventListener('click', () => this.#go(-1))
    this.older.addEventListener('click', () => this.#go(+1))
    root.querySelector('#gallery-refresh').addEventListener('click', () => this.first())
  }

  first () {
    this.#cursors = [undefined]
    this.#pageSizes = []
    this.#shownBefore = 0
    return this.#load()
  }

  async #go (direction) {
    if (direction > 0 && this.next) {
      this.#pageSizes.push(this.list.children.length)
      this.#shownBefore += this.list.children.length
      this.#cursors.push(this.next)
    } else if (direction < 0 && this.#cursors.length > 1) {
      this.#cursors.pop()
      this.#shownBefore -= this.#pageSizes.pop()
    }
    await this.#load()
  }

  async #load () {
    try {
      const page = await getHistory({ limit: PAGE_SIZE, before: this.#cursors.at(-1) })
      const sources = await Promise.all(page.jobs.map(job => this.#outputSrc(job)))
      this.next = page.next_before
      this.#jobs = new Map(page.jobs.map(job => [job.id, job]))
      this.list.replaceChildren(...page.jobs.map((job, i) => this.#card(job, sources[i])))
      const from = page.jobs.length ? this.#shownBefore + 1 : this.#shownBefore
      this.info.textContent = `${from}–${this.#shownBefore + page.jobs.length} of ${page.total}`
      this.newer.disabled = this.#cursors.length <= 1
      this.older.disabled = !page.next_before
      this.#schedule()
    } catch (err) {
      this.info.textContent = `History unavailable: ${err.message}`
    }
  }

  #card (job, outputSrc) {
    return historyCard(job, { onSelect: this.#onSelect, onCancel: job => this.#cancel(job), outputSrc })
  }

  /** The URL that opens the job's output (signed when the gateway needs a key); none without one. */
  #outputSrc (job) {
    if (!job.output_path) return undefined
    return outputUrl(job.id, job.output_path).catch(() => relative(job.output_path))
  }

  async #cancel (job) {
    await cancelJob(job.id).catch(() => {}) // refused (it ended meanwhile): the next status says how
    await this.#refresh(job.id)
  }

  #schedule () {
    clearTimeout(this.#timer)
    const live = [...this.#jobs.values()].some(job => LIVE.has(job.status))
    this.#timer = live ? setTimeout(() => this.#poll(), LIVE_POLL_MS) : null
  }

  async #poll () {
    const live = [...this.#jobs.values()].filter(job => LIVE.has(job.status))
    await Promise.all(live.map(job => this.#refresh(job.id)))
    this.#schedule()
  }

  /** Redraws one card from the job's current status, when it changed. */
  async #refresh (jobId) {
    const status = await getStatus(jobId).catch(() => null)
    const job = this.#jobs.get(jobId)
    const li = [...this.list.children].find(el => el.dataset.jobId === jobId)
    if (!status || !job || !li) return
    if (status.status === job.status && status.progress === job.progress) return
    const updated = { ...job, status: status.status, progress: status.progress, error: status.error || job.error, output_path: status.image_url || job.output_path }
    const outputSrc = await this.#outputSrc(updated)
    if (!li.isConnected) return // the page changed meanwhile
    this.#jobs.set(jobId, updated)
    const card = this.#card(updated, outputSrc)
    card.querySelector('details').open = li.querySelector('details').open
    li.replaceWith(card)
  }
}
