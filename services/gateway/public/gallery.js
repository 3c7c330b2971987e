import { getHistory, relative } from './api.js'

const PAGE_SIZE = 12

/**
 * Past jobs, newest first, a page at a time. Pages follow the `before` cursor, so a page does not
 * shift while new jobs arrive.
 */
export class Gallery {
  #cursors = [undefined] // `before` of each page visited; the last one is the current page
  #shownBefore = 0 // jobs on the newer pages
  #pageSizes = []
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
      this.next = page.next_before
      this.list.replaceChildren(...page.jobs.map(job => this.#item(job)))
      const from = page.jobs.length ? this.#shownBefore + 1 : this.#shownBefore
      this.info.textContent = `${from}–${this.#shownBefore + page.jobs.length} of ${page.total}`
      this.newer.disabled = this.#cursors.length <= 1
      this.older.disabled = !page.next_before
    } catch (err) {
      this.info.textContent = `History unavailable: ${err.message}`
    }
  }

  #item (job) {
    const li = document.createElement('li')
    li.className = 'card'
    li.dataset.jobId = job.id
    li.dataset.status = job.status
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'card-button'
    button.setAttribute('aria-label', `${job.prompt} (${job.status}); show this job`)
    if (job.output_path) {
      const img = document.createElement('img')
      img.src = relative(job.output_path)
      img.alt = ''
      img.loading = 'lazy'
      button.append(img)
    } else {
      const placeholder = document.createElement('span')
      placeholder.className = 'placeholder'
      placeholder.textContent = job.status === 'failed' || job.status === 'cancelled' ? '✕' : '…'
      button.append(placeholder)
    }
    const badge = document.createElement('span')
    badge.className = `badge status-${job.status}`
    badge.textContent = job.status
    const prompt = document.createElement('span')
    prompt.className = 'card-prompt'
    prompt.textContent = job.prompt
    const meta = document.createElement('time')
    meta.dateTime = job.created_at
    meta.textContent = new Date(job.created_at).toLocaleString()
    button.append(badge, prompt, meta)
    button.addEventListener('click', () => this.#onSelect(job))
    li.append(button)
    return li
  }
}
