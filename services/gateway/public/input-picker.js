import { describeError, uploadFile } from './api.js'

const NOUNS = { image: ['image', 'images'], images: ['image', 'images'], mask: ['mask', 'masks'], audio: ['sound', 'sounds'] }

function withArticle (noun) {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`
}

function title (name) {
  return name.replace(/_/g, ' ').replace(/^./, c => c.toUpperCase())
}

/**
 * One declared media input of a workflow (GET /api/workflows): files are dropped on it or chosen,
 * each uploaded at once through POST /api/upload, and the job is submitted with the upload names.
 */
export class InputPicker {
  #items = [] // {file, preview, upload: Promise, name?, error?}

  constructor (input, id) {
    this.input = input
    const [one, many] = NOUNS[input.kind]
    this.noun = input.max > 1 ? many : one
    this.element = document.createElement('fieldset')
    this.element.className = 'picker'
    this.element.dataset.input = input.name
    const legend = document.createElement('legend')
    legend.textContent = title(input.name)
    const rule = document.createElement('small')
    rule.textContent = ` ${this.#countRule()}${input.required ? '' : ', optional'}`
    legend.append(rule)
    const about = document.createElement('p')
    about.className = 'muted'
    about.textContent = `${input.description ? `${input.description}. ` : ''}Drop ${this.noun} here or choose.`
    this.chooser = document.createElement('input')
    this.chooser.type = 'file'
    this.chooser.id = id
    this.chooser.accept = input.accepts.join(',')
    this.chooser.multiple = input.max > 1
    this.chooser.setAttribute('aria-label', `Choose ${this.noun} for ${title(input.name).toLowerCase()}`)
    this.list = document.createElement('ul')
    this.list.className = 'picked'
    this.error = document.createElement('p')
    this.error.className = 'error'
    this.error.setAttribute('role', 'alert')
    this.error.hidden = true
    this.element.append(legend, about, this.chooser, this.list, this.error)

    this.chooser.addEventListener('change', () => {
      this.add([...this.chooser.files])
      this.chooser.value = ''
    })
    this.element.addEventListener('dragover', event => {
      event.preventDefault()
      this.element.classList.add('drag-over')
    })
    this.element.addEventListener('dragleave', () => this.element.classList.remove('drag-over'))
    this.element.addEventListener('drop', event => {
      event.preventDefault()
      this.element.classList.remove('drag-over')
      this.add([...(event.dataTransfer?.files ?? [])])
    })
  }

  #countRule () {
    const { min, max, kind } = this.input
    if (kind !== 'images') return `(one ${NOUNS[kind][0]})`
    return min === max ? `(${max} ${this.noun}, in order)` : `(${min}–${max} ${this.noun}, in order)`
  }

  #showError (message) {
    this.error.textContent = message
    this.error.hidden = !message
  }

  /** Takes files the user gave: checks what the browser can know, then uploads each. */
  add (files) {
    this.#showError('')
    const { max, max_bytes: maxBytes } = this.input
    const wanted = this.input.kind === 'audio' ? 'audio/' : 'image/'
    const problems = []
    for (const file of files) {
      if (file.type && !file.type.startsWith(wanted)) {
        problems.push(`${file.name} is not ${withArticle(this.input.kind === 'audio' ? 'sound' : 'image')}`)
        continue
      }
      if (file.size > maxBytes) {
        problems.push(`${file.name} is larger than ${Math.floor(maxBytes / 1048576)} MiB`)
        continue
      }
      if (max === 1) this.#clear()
      if (this.#items.length >= max) {
        problems.push(`at most ${max} ${this.noun}`)
        break
      }
      this.#addOne(file)
    }
    if (problems.length) this.#showError(problems.join('; '))
  }

  #addOne (file) {
    const item = { file, preview: URL.createObjectURL(file) }
    const li = document.createElement('li')
    const media = document.createElement(this.input.kind === 'audio' ? 'audio' : 'img')
    media.src = item.preview
    if (this.input.kind === 'audio') media.controls = true
    else media.alt = `${title(this.input.name)}: ${file.name}`
    const state = document.createElement('span')
    state.className = 'picked-state'
    state.textContent = `${file.name}: uploading…`
    const remove = document.createElement('button')
    remove.type = 'button'
    remove.className = 'secondary'
    remove.textContent = 'Remove'
    remove.setAttribute('aria-label', `Remove ${file.name}`)
    remove.addEventListener('click', () => this.#remove(item))
    li.append(media, state, remove)
    item.li = li
    this.list.append(li)
    this.#items.push(item)
    item.upload = uploadFile(file).then(stored => {
      item.name = stored.name
      li.dataset.upload = stored.name
      state.textContent = `${file.name}: ${stored.width ? `${stored.width} × ${stored.height}` : stored.type}`
    }, err => {
      item.error = describeError(err)
      li.classList.add('refused')
      state.textContent = `${file.name}: ${item.error}`
    })
  }

  #remove (item) {
    URL.revokeObjectURL(item.preview)
    item.li.remove()
    this.#items = this.#items.filter(i => i !== item)
  }

  #clear () {
    for (const item of [...this.#items]) this.#remove(item)
  }

  /** Drops the picks and their previews (the workflow changed). */
  dispose () {
    this.#clear()
  }

  /** Waits for the uploads, then the value to submit: an upload name, a list of them, or nothing. */
  async value () {
    await Promise.all(this.#items.map(item => item.upload))
    const field = title(this.input.name).toLowerCase()
    const refused = this.#items.find(item => item.error)
    if (refused) throw new Error(`${field}: ${refused.file.name} was refused (${refused.error}); remove it first`)
    const names = this.#items.map(item => item.name)
    const { min, kind, required } = this.input
    if (names.length < min && (required || names.length > 0)) {
      throw new Error(kind === 'images' ? `${field}: add at least ${min} ${this.noun}` : `${field}: add ${withArticle(this.noun)}`)
    }
    if (names.length === 0) return undefined
    return kind === 'images' ? names : names[0]
  }
}
