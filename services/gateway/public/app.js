import { apiKey, describeError, submitJob } from './api.js'
import { Gallery } from './gallery.js'
import { JobPanel } from './job-panel.js'
import { KeyForm } from './key-form.js'
import { WorkflowForm } from './workflow-form.js'

const form = document.querySelector('#generate-form')
const submit = document.querySelector('#submit')
const formError = document.querySelector('#form-error')
const prompt = document.querySelector('#prompt')

// first, so it hears the 401 of the first requests below
const keyForm = new KeyForm(document)
const workflow = new WorkflowForm(document)
const gallery = new Gallery(document, { onSelect: job => panel.follow(job.id, job.prompt) })
const panel = new JobPanel(document, { onEnd: () => gallery.first() })

function showError (message) {
  formError.textContent = message
  formError.hidden = !message
}

form.addEventListener('submit', async event => {
  event.preventDefault()
  showError('')
  if (workflow.promptRule === 'required' && !prompt.value.trim()) {
    showError('Write a prompt first.')
    prompt.focus()
    return
  }
  const seed = Number(form.seed.value === '' ? -1 : form.seed.value)
  submit.disabled = true
  try {
    const media = await workflow.values()
    const { job_id: jobId } = await submitJob({
      ...(workflow.promptRule === 'none' ? {} : { prompt: prompt.value }),
      workflow: form.workflow.value,
      model: form.model.value,
      aspect_ratio: form.aspect_ratio.value,
      seed,
      ...media
    })
    panel.follow(jobId, workflow.promptRule === 'none' ? '' : prompt.value)
    await gallery.first()
  } catch (err) {
    showError(describeError(err))
  } finally {
    submit.disabled = false
  }
})

prompt.addEventListener('keydown', event => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) form.requestSubmit()
})

// a file dropped beside a picker would otherwise replace the page with itself
for (const type of ['dragover', 'drop']) window.addEventListener(type, event => event.preventDefault())

// a key was taken: load what the page could not load without one, and follow the current job again
apiKey.addEventListener('changed', () => {
  void workflow.load()
  void gallery.first()
  panel.resume()
  keyForm.hide()
})

void workflow.load()
void gallery.first()
