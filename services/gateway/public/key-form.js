import { apiKey, checkKey, describeError } from './api.js'

/**
 * The API key form: shown when the gateway answers 401 (no key, or the key was refused), hidden
 * while the page has a key it takes; "Forget key" drops the key and starts the page afresh. The key
 * is tried once before it is kept, so a wrong one is refused here, in words, and asked again.
 */
export class KeyForm {
  constructor (root) {
    this.panel = root.querySelector('#key-panel')
    this.form = root.querySelector('#key-form')
    this.input = root.querySelector('#api-key')
    this.reason = root.querySelector('#key-reason')
    this.error = root.querySelector('#key-error')
    this.submit = root.querySelector('#key-submit')
    this.forget = root.querySelector('#key-forget')
    this.forget.hidden = !apiKey.value
    apiKey.addEventListener('needed', event => this.ask(event.detail))
    this.form.addEventListener('submit', event => {
      event.preventDefault()
      void this.#try()
    })
    this.forget.addEventListener('click', () => {
      apiKey.forget()
      location.reload() // nothing of the last owner's jobs stays on the page
    })
  }

  /** Shows the form: `refused`, the key sent was refused (the message is an error), else why one is needed. */
  ask ({ message, refused = false }) {
    this.forget.hidden = !apiKey.value
    this.reason.textContent = refused ? '' : message
    this.#showError(refused ? message : '')
    if (!this.panel.hidden) return
    this.panel.hidden = false
    this.input.focus()
  }

  async #try () {
    const key = this.input.value.trim()
    if (!key) {
      this.#showError('Enter a key.')
      this.input.focus()
      return
    }
    this.submit.disabled = true
    this.#showError('')
    try {
      await checkKey(key)
    } catch (err) {
      this.#showError(err.status === 401
        ? 'The gateway refused this key (wrong, expired or revoked).'
        : `This key cannot be used here: ${describeError(err)}`)
      this.input.select()
      this.input.focus()
      return
    } finally {
      this.submit.disabled = false
    }
    this.input.value = ''
    apiKey.use(key)
  }

  /** Hides the form (a key was taken). */
  hide () {
    this.panel.hidden = true
    this.#showError('')
    this.forget.hidden = !apiKey.value
  }

  #showError (message) {
    this.error.textContent = message
    this.error.hidden = !message
  }
}
