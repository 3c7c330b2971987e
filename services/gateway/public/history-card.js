import { downloadLink, placeholder, thumbnail } from './media.js'

export const LIVE = new Set(['queued', 'processing'])

/**
 * One job in the history: a button that shows it in the panel, its prompt (whole on expand) with
 * the seed it used, a download for what it made, and a cancel button while it is live. `outputSrc`:
 * the URL that opens its output (signed when the gateway needs a key).
 */
export function historyCard (job, { onSelect, onCancel, outputSrc }) {
  const li = document.createElement('li')
  li.className = 'card'
  li.dataset.jobId = job.id
  li.dataset.status = job.status
  const button = document.createElement('button')
  button.type = 'button'
  button.className = 'card-button'
  button.setAttribute('aria-label', `${job.prompt || job.workflow} (${job.status}); show this job`)
  const dead = job.status === 'failed' || job.status === 'cancelled'
  button.append(job.output_path ? thumbnail(job.output_path, outputSrc) : placeholder(dead ? '✕' : '…'))
  const badge = document.createElement('span')
  badge.className = `badge status-${job.status}`
  badge.textContent = job.progress && LIVE.has(job.status) ? `${job.status} ${job.progress}%` : job.status
  const meta = document.createElement('time')
  meta.dateTime = job.created_at
  meta.textContent = new Date(job.created_at).toLocaleString()
  button.append(badge, meta)
  button.addEventListener('click', () => onSelect(job))

  const details = document.createElement('details')
  details.className = 'card-details'
  const summary = document.createElement('summary')
  summary.className = 'card-prompt'
  summary.textContent = job.prompt || job.workflow.replace(/_/g, ' ')
  const whole = document.createElement('p')
  whole.className = 'whole-prompt'
  whole.textContent = job.prompt
  const facts = document.createElement('p')
  facts.className = 'muted'
  facts.textContent = `Seed ${job.seed} · ${job.workflow} · ${job.model}`
  details.append(summary, whole, facts)
  if (job.error) {
    const error = document.createElement('p')
    error.className = 'error'
    error.textContent = job.error
    details.append(error)
  }

  const actions = document.createElement('div')
  actions.className = 'card-actions'
  if (job.output_path) {
    const download = downloadLink(outputSrc, job.output_path)
    download.setAttribute('aria-label', `Download: ${job.prompt || job.workflow}`)
    actions.append(download)
  }
  if (LIVE.has(job.status)) {
    const cancel = document.createElement('button')
    cancel.type = 'button'
    cancel.className = 'secondary'
    cancel.textContent = 'Cancel'
    cancel.setAttribute('aria-label', `Cancel job: ${job.prompt || job.workflow}`)
    cancel.addEventListener('click', () => {
      cancel.disabled = true
      onCancel(job)
    })
    actions.append(cancel)
  }
  li.append(button, details, actions)
  return li
}
