import type { GenerateBody, InputRef, JobInputs, MediaInputDeclaration, WorkflowDeclaration } from '@comfy-jobs/contracts'
import type { FieldProblem } from '../validation-errors.ts'
import { fieldProblems } from '../validation-errors.ts'
import { MediaRefusal } from '../uploads/media-inspector.ts'
import type { StoredUpload, UploadStore } from '../uploads/upload-store.ts'
import { decodeDataUrl, isDataUrl } from './data-url.ts'

/** What a submit's inputs come to once every one has been checked. */
export interface ResolvedInputs {
  prompt: string
  prompts: string[]
  inputs: JobInputs
  /** files sent inline (data: URLs): checked, to be stored before the job is written */
  files: Array<{ name: string, data: Buffer }>
}

/** One file of the request, where it came from (the field its errors name) and which input it fills. */
interface Given {
  field: string
  value: string
  input: MediaInputDeclaration
  /** the position among an `images` input's members; -1 when given as the input itself */
  member: number
}

const isBlank = (s: string) => s.trim() === ''

/**
 * Checks a submit's prompt and media inputs against what its workflow declares, and turns each file
 * into a reference: an upload by name (it must exist) or a data: URL (decoded and checked like an
 * upload, stored only once the whole request has passed). Every problem is reported, each naming its
 * field (`images.source`, `inputs.shots`, `prompt`); nothing is written here.
 */
export class InputResolver {
  readonly #uploads: UploadStore

  constructor (uploads: UploadStore) {
    this.#uploads = uploads
  }

  async resolve (body: GenerateBody, workflow: string, declaration: WorkflowDeclaration): Promise<ResolvedInputs> {
    const problems: FieldProblem[] = []
    const prompt = body.prompt ?? ''
    const prompts = (body.prompts ?? []).filter(p => !isBlank(p))
    this.#checkPrompts(workflow, declaration, prompt, prompts, problems)
    const given = this.#collect(body, workflow, declaration, problems)
    const files: ResolvedInputs['files'] = []
    const inputs: JobInputs = {}
    const form = body.inputs === undefined && body.images !== undefined ? 'images' : 'inputs'
    for (const input of declaration.inputs) {
      const mine = given.filter(g => g.input === input).sort((a, b) => a.member - b.member)
      const field = input.kind === 'audio' && form === 'images' ? 'audio' : `${form}.${input.name}`
      if (mine.length < input.min) {
        const what = input.kind === 'images' ? `at least ${input.min} images` : `a${input.kind === 'audio' ? 'n audio file' : input.kind === 'mask' ? ' mask image' : 'n image'}`
        // sent as members (the original page's form), the first member missing is what is missing
        const missing = form === 'images' && input.members[mine.length] !== undefined ? `images.${input.members[mine.length]}` : field
        problems.push({ field: missing, message: `${missing} is required: workflow ${JSON.stringify(workflow)} needs ${what} as ${JSON.stringify(input.name)}${mine.length > 0 ? `, got ${mine.length}` : ''}` })
        continue
      }
      if (mine.length > input.max) {
        problems.push({ field, message: `${field}: workflow ${JSON.stringify(workflow)} takes at most ${input.max} ${input.max === 1 ? 'file' : 'images'} as ${JSON.stringify(input.name)}, got ${mine.length}` })
        continue
      }
      const refs: InputRef[] = []
      for (const g of mine) {
        const ref = await this.#file(g, problems, files)
        if (ref !== null) refs.push(ref)
      }
      if (mine.length > 0) inputs[input.name] = input.kind === 'images' ? refs : refs[0]
    }
    if (problems.length > 0) throw fieldProblems(problems)
    return { prompt, prompts, inputs, files: files.filter((f, i) => files.findIndex(o => o.name === f.name) === i) }
  }

  #checkPrompts (workflow: string, declaration: WorkflowDeclaration, prompt: string, prompts: string[], problems: FieldProblem[]): void {
    const name = JSON.stringify(workflow)
    if (prompts.length > declaration.max_prompts) {
      problems.push({
        field: 'prompts',
        message: declaration.max_prompts === 0 ? `prompts: workflow ${name} takes no prompts list` : `prompts: workflow ${name} takes at most ${declaration.max_prompts}, got ${prompts.length}`
      })
    }
    if (declaration.prompt === 'required' && isBlank(prompt) && prompts.length === 0) {
      problems.push({ field: 'prompt', message: `prompt is required: workflow ${name} needs a non-blank prompt${declaration.max_prompts > 0 ? ' (or prompts)' : ''}` })
    }
  }

  /** Every file the request names, matched to the input it fills; unknown names are problems. */
  #collect (body: GenerateBody, workflow: string, declaration: WorkflowDeclaration, problems: FieldProblem[]): Given[] {
    const byName = new Map(declaration.inputs.map(i => [i.name, i]))
    const members = new Map(declaration.inputs.flatMap(input => input.members.map((m, index) => [m, { input, index }] as const)))
    const known = declaration.inputs.length === 0 ? 'none' : declaration.inputs.map(i => i.name + (i.members.length > 0 ? ` (or ${i.members.join(', ')})` : '')).join(', ')
    const given: Given[] = []
    const place = (field: string, key: string, values: string[], listed: boolean): void => {
      const input = byName.get(key)
      const member = members.get(key)
      if (input === undefined && member === undefined) {
        problems.push({ field, message: `${field}: workflow ${JSON.stringify(workflow)} has no input ${JSON.stringify(key)}; it takes: ${known}` })
        return
      }
      if (input !== undefined && input.kind !== 'images' && values.length > 1) {
        problems.push({ field, message: `${field}: input ${JSON.stringify(key)} takes one file, got a list of ${values.length}` })
        return
      }
      if (given.some(g => g.input === (input ?? member!.input) && (input !== undefined || g.member === member!.index))) {
        problems.push({ field, message: `${field}: input ${JSON.stringify(key)} is given twice` })
        return
      }
      values.forEach((value, i) => given.push({
        field: listed ? `${field}[${i}]` : field,
        value,
        input: input ?? member!.input,
        member: input !== undefined ? -1 : member!.index
      }))
    }
    for (const [key, value] of Object.entries(body.inputs ?? {})) place(`inputs.${key}`, key, Array.isArray(value) ? value : [value], Array.isArray(value))
    for (const [key, value] of Object.entries(body.images ?? {})) if (value !== null) place(`images.${key}`, key, [value], false)
    if (body.audio !== undefined && body.audio !== null) {
      const audio = declaration.inputs.filter(i => i.kind === 'audio')
      if (audio.length === 1) place('audio', audio[0].name, [body.audio], false)
      else problems.push({ field: 'audio', message: `audio: workflow ${JSON.stringify(workflow)} ${audio.length === 0 ? 'takes no audio' : `takes several audio inputs (${audio.map(a => a.name).join(', ')}); name it in inputs`}` })
    }
    return given
  }

  /** One file as a reference, or null after recording why it cannot be used. */
  async #file (g: Given, problems: FieldProblem[], files: ResolvedInputs['files']): Promise<InputRef | null> {
    let stored: StoredUpload | null
    try {
      if (isDataUrl(g.value)) {
        const decoded = decodeDataUrl(g.value, this.#uploads.limits.maxBytes)
        if (!decoded.ok) {
          problems.push({ field: g.field, message: `${g.field} ${decoded.message}` })
          return null
        }
        stored = this.#uploads.check(decoded.data)
        files.push({ name: stored.name, data: decoded.data })
      } else {
        if (this.#uploads.pathOf(g.value) === null) {
          problems.push({ field: g.field, message: `${g.field} must be the name POST /api/upload returned or a data: URL (URLs are never fetched), got ${JSON.stringify(g.value.slice(0, 80))}` })
          return null
        }
        stored = await this.#uploads.describe(g.value)
        if (stored === null) {
          problems.push({ field: g.field, message: `${g.field} names no stored upload (${g.value}); upload the file first (POST /api/upload)` })
          return null
        }
      }
    } catch (err) {
      if (!(err instanceof MediaRefusal)) throw err
      problems.push({ field: g.field, message: `${g.field} ${err.message}` })
      return null
    }
    const wants = g.input.kind === 'audio' ? 'audio' : 'image'
    if (stored.kind !== wants) {
      problems.push({ field: g.field, message: `${g.field} is ${stored.type}, but input ${JSON.stringify(g.input.name)} takes ${wants === 'audio' ? 'a sound' : 'an image'}` })
      return null
    }
    const kind = g.input.kind === 'audio' ? 'audio' : g.input.kind === 'mask' ? 'mask' : 'image'
    return {
      name: stored.name,
      kind,
      mime: stored.type,
      bytes: stored.size,
      ...(stored.width !== undefined ? { width: stored.width, height: stored.height } : {})
    }
  }
}

/** The inputs as the idempotency hash sees them: names in order, references by content. */
export function canonicalInputs (inputs: JobInputs): Array<[string, string[]]> {
  return Object.keys(inputs).sort().map(name => {
    const value = inputs[name]
    return [name, (Array.isArray(value) ? value : [value]).map(ref => ref.name)]
  })
}
