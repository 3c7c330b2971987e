import { getWorkflows } from './api.js'
import { InputPicker } from './input-picker.js'

const RETRY_MS = 5000

function label (name) {
  return name.replace(/_/g, ' ').replace(/^./, c => c.toUpperCase())
}

/**
 * The parts of the form that depend on the workflow: the workflows and models the workers can run
 * (GET /api/workflows), whether a prompt is asked for, segment prompts, and a picker for each
 * declared media input.
 */
export class WorkflowForm {
  #workflows = new Map()
  #pickers = []
  #retry = null

  constructor (root) {
    this.select = root.querySelector('#workflow')
    this.help = root.querySelector('#workflow-help')
    this.model = root.querySelector('#model')
    this.prompt = root.querySelector('#prompt')
    this.promptField = root.querySelector('#prompt-field')
    this.promptHelp = root.querySelector('#prompt-help')
    this.prompts = root.querySelector('#prompts')
    this.promptsField = root.querySelector('#prompts-field')
    this.promptsHelp = root.querySelector('#prompts-help')
    this.inputs = root.querySelector('#media-inputs')
    this.select.addEventListener('change', () => this.#show())
  }

  /**
   * Loads the list; with no worker connected yet (an empty list) it asks again a little later. Not
   * while a key is wanted (401): the page calls load() again once it has one.
   */
  async load () {
    clearTimeout(this.#retry)
    try {
      const { workflows } = await getWorkflows()
      if (workflows.length === 0) throw new Error('no workflows yet')
      this.#workflows = new Map(workflows.map(w => [w.name, w]))
      const current = this.#workflows.has(this.select.value) ? this.select.value : workflows[0].name
      this.select.replaceChildren(...workflows.map(w => new Option(label(w.name), w.name)))
      this.select.value = current
      this.#show()
    } catch (err) {
      if (err.status !== 401) this.#retry = setTimeout(() => this.load(), RETRY_MS)
    }
  }

  get current () {
    return this.#workflows.get(this.select.value)
  }

  /** Whether the selected workflow needs a prompt (text_to_image's rule until the list is loaded). */
  get promptRule () {
    return this.current?.prompt ?? 'required'
  }

  #show () {
    const workflow = this.current
    if (!workflow) return
    this.help.textContent = workflow.description
    const model = this.model.value
    this.model.replaceChildren(...workflow.models.map(m => new Option(m, m)))
    if (workflow.models.includes(model)) this.model.value = model
    this.promptField.hidden = workflow.prompt === 'none'
    this.prompt.required = workflow.prompt === 'required'
    this.promptHelp.textContent = workflow.prompt === 'optional'
      ? 'Optional for this workflow. Ctrl+Enter submits.'
      : 'What to make. Ctrl+Enter submits.'
    this.promptsField.hidden = workflow.max_prompts === 0
    this.promptsHelp.textContent = `One segment per line, at most ${workflow.max_prompts}.`
    for (const picker of this.#pickers) picker.dispose()
    this.#pickers = workflow.inputs.map(input => new InputPicker(input, `input-${input.name}`))
    this.inputs.replaceChildren(...this.#pickers.map(p => p.element))
    this.inputs.hidden = this.#pickers.length === 0
  }

  /** What the workflow adds to a submit: its media inputs by upload name and segment prompts. */
  async values () {
    const workflow = this.current
    const body = {}
    if (!workflow) return body
    const inputs = {}
    for (const picker of this.#pickers) {
      const value = await picker.value()
      if (value !== undefined) inputs[picker.input.name] = value
    }
    if (Object.keys(inputs).length) body.inputs = inputs
    if (workflow.max_prompts > 0) {
      const segments = this.prompts.value.split('\n').map(s => s.trim()).filter(Boolean)
      if (segments.length > workflow.max_prompts) throw new Error(`Segment prompts: at most ${workflow.max_prompts}`)
      if (segments.length) body.prompts = segments
    }
    return body
  }
}
