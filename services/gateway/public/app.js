import { submitJob } from './api.js'
import { Gallery } from './gallery.js'
import { JobPanel } from './job-panel.js'

const form = document.querySelector('#generate-form')
const submit = document.querySelector('#submit')
const formError = document.querySelector('#form-error')
const prompt = document.querySelector('#prompt')

const gallery = new Gallery(document, { onSelect: job => panel.follow(job.id, job.prompt) })
const panel = new JobPanel(document, { onEnd: () => gallery.first() })

function showError (message) {
  formError.textContent = message
  formError.hidden = !message
}

form.addEventListener('submit', async event => {
  event.preventDefault()
  showError('')
  if (!prompt.value.trim()) {
    showError('Write a prompt first.')
    prompt.focus()
    return
  }
  const seed = Number(form.seed.value === '' ? -1 : form.seed.value)
  submit.disabled = true
  try {
    const { job_id: jobId } = await submitJob({
      prompt: prompt.value,
      workflow: form.workflow.value,
      model: form.model.value,
      aspect_ratio: form.aspect_ratio.value,
      seed
    })
    panel.follow(jobId, prompt.value)
    await gallery.first()
  } catch (err) {
    const details = Array.isArray(err.body?.details) ? err.body.details.map(d => d.message).join('; ') : ''
    showError(details || err.message)
  } finally {
    submit.disabled = false
  }
})

prompt.addEventListener('keydown', event => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit()
})

void gallery.first()
