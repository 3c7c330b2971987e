import type { InputSpec, NodeClass } from './node-catalog.ts'

export type Graph = Record<string, { class_type?: string, inputs?: Record<string, unknown> }>

export interface InputError {
  type: string
  message: string
  details: string
  extra_info: Record<string, unknown>
}

export type Validation =
  | { ok: true, outputs: string[], node_errors: Record<string, unknown> }
  | { ok: false, body: { error: { type: string, message: string, details: string, extra_info: Record<string, unknown> }, node_errors: Record<string, unknown> } }

function isLink (value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1])
}

function pyList (items: string[]): string {
  return `[${items.map(i => `'${i}'`).join(', ')}]`
}

function fail (type: string, message: string, details = '', nodeErrors: Record<string, unknown> = {}): Validation {
  return { ok: false, body: { error: { type, message, details, extra_info: {} }, node_errors: nodeErrors } }
}

/** Checks one literal against its spec the way ComfyUI's validate_inputs does. */
function checkValue (name: string, spec: InputSpec, value: unknown): InputError | null {
  const [type, opts = {}] = spec
  const extra = { input_name: name, input_config: spec, received_value: value }
  if (Array.isArray(type)) {
    if (!type.includes(value as string)) {
      return {
        type: 'value_not_in_list',
        message: 'Value not in list',
        details: `${name}: '${String(value)}' not in ${pyList(type)}`,
        extra_info: { ...extra, input_config: type.length > 20 ? null : spec }
      }
    }
    return null
  }
  if (type === 'INT' || type === 'FLOAT') {
    const n = typeof value === 'number' ? value : Number.NaN
    if (Number.isNaN(n) || (type === 'INT' && !Number.isInteger(n))) {
      return { type: 'invalid_input_type', message: `Failed to convert an input value to a ${type} value`, details: `${name}, ${String(value)}, could not convert`, extra_info: extra }
    }
    if (opts.min !== undefined && n < opts.min) return { type: 'value_smaller_than_min', message: `Value ${n} smaller than min of ${opts.min}`, details: name, extra_info: extra }
    if (opts.max !== undefined && n > opts.max) return { type: 'value_bigger_than_max', message: `Value ${n} bigger than max of ${opts.max}`, details: name, extra_info: extra }
    return null
  }
  if (type === 'STRING' && typeof value !== 'string') {
    return { type: 'invalid_input_type', message: 'Failed to convert an input value to a STRING value', details: `${name}, ${String(value)}`, extra_info: extra }
  }
  return null
}

/**
 * ComfyUI's validate_prompt: every node has a known class, some output node exists, and each output's
 * inputs (recursively) are present, linked to the right types and within range. Outputs whose
 * dependencies fail are dropped; if none survive, the answer is a 400 with node_errors.
 */
export function validatePrompt (graph: unknown, classes: Record<string, NodeClass>): Validation {
  if (typeof graph !== 'object' || graph === null || Array.isArray(graph)) return fail('no_prompt', 'No prompt provided', 'No prompt provided')
  const g = graph as Graph
  for (const [id, node] of Object.entries(g)) {
    if (typeof node?.class_type !== 'string') {
      return fail('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`)
    }
    if (!(node.class_type in classes)) {
      return fail('invalid_prompt', `Cannot execute because node ${node.class_type} does not exist.`, `Node ID '#${id}'`)
    }
  }
  const outputs = Object.keys(g).filter(id => classes[g[id].class_type!].output_node === true)
  if (outputs.length === 0) return fail('prompt_no_outputs', 'Prompt has no outputs', '')

  const errorsByNode = new Map<string, InputError[]>()
  const validated = new Map<string, boolean>()
  const validate = (id: string): boolean => {
    const known = validated.get(id)
    if (known !== undefined) return known
    validated.set(id, true) // a cycle is not this fake's business
    const node = g[id]
    const cls = classes[node.class_type!]
    const inputs = node.inputs ?? {}
    const errors: InputError[] = []
    let ok = true
    for (const [name, spec] of Object.entries({ ...cls.required, ...cls.optional })) {
      const required = name in cls.required
      const value = inputs[name]
      if (value === undefined) {
        if (required) errors.push({ type: 'required_input_missing', message: 'Required input is missing', details: name, extra_info: { input_name: name } })
        continue
      }
      if (isLink(value)) {
        const source = g[value[0]]
        if (source === undefined) {
          errors.push({ type: 'exception_during_validation', message: 'Exception when validating node', details: `'${value[0]}'`, extra_info: { input_name: name } })
          continue
        }
        const produced = classes[source.class_type!].output[value[1]]
        if (produced !== spec[0] && !(Array.isArray(spec[0]) && produced === 'COMBO')) {
          errors.push({ type: 'return_type_mismatch', message: 'Return type mismatch between linked nodes', details: `${name}, received_type(${produced}) mismatch input_type(${String(spec[0])})`, extra_info: { input_name: name, input_config: spec, received_type: produced, linked_node: value } })
          continue
        }
        if (!validate(value[0])) ok = false
        continue
      }
      const custom = cls.validate?.[name]
      if (custom !== undefined) {
        const message = custom(value)
        if (message !== null) errors.push({ type: 'custom_validation_failed', message: 'Custom validation failed for node', details: `${name} - ${message}`, extra_info: { input_name: name } })
        continue
      }
      const error = checkValue(name, spec, value)
      if (error !== null) errors.push(error)
    }
    if (errors.length > 0) {
      errorsByNode.set(id, errors)
      ok = false
    }
    validated.set(id, ok)
    return ok
  }

  const good = outputs.filter(output => validate(output))
  const reachable = (id: string, seen = new Set<string>()): Set<string> => {
    if (seen.has(id) || g[id] === undefined) return seen
    seen.add(id)
    for (const value of Object.values(g[id].inputs ?? {})) if (isLink(value)) reachable(value[0], seen)
    return seen
  }
  const dependents = new Map<string, string[]>()
  for (const output of outputs.filter(o => !good.includes(o))) {
    for (const id of reachable(output)) if (errorsByNode.has(id)) dependents.set(id, [...(dependents.get(id) ?? []), output])
  }
  const nodeErrors: Record<string, unknown> = {}
  for (const [id, errors] of errorsByNode) {
    nodeErrors[id] = { errors, dependent_outputs: dependents.get(id) ?? [], class_type: g[id].class_type }
  }
  // 0.8.0 leaves `details` empty (0.3.64 listed the errors there); node_errors say it all
  if (good.length === 0) return fail('prompt_outputs_failed_validation', 'Prompt outputs failed validation', '', nodeErrors)
  return { ok: true, outputs: good, node_errors: nodeErrors }
}
