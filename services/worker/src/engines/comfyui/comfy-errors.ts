import type { InputTarget } from './workflow-template.ts'

/** Why a job failed in or around ComfyUI; the message is what the job's `error` says. */
export class ComfyJobError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ComfyJobError'
  }
}

interface NodeError {
  type?: string
  message?: string
  details?: string
  extra_info?: { input_name?: string }
}

/** POST /prompt answered 400: name each node, input and reason (and say so when it is the model file). */
export function validationError (body: any, modelInputs: InputTarget[]): ComfyJobError {
  const parts: string[] = []
  for (const [node, entry] of Object.entries<any>(body?.node_errors ?? {})) {
    for (const e of (entry?.errors ?? []) as NodeError[]) {
      const input = e.extra_info?.input_name
      const isModel = input !== undefined && e.type === 'value_not_in_list' && modelInputs.some(t => t.node === node && t.input === input)
      const where = `node ${node} (${entry.class_type ?? 'unknown class'})${input ? ` input ${input}` : ''}`
      parts.push(`${isModel ? 'missing model: ' : ''}${where}: ${e.message ?? e.type ?? 'invalid'}${e.details ? ` (${e.details})` : ''}`)
    }
  }
  if (parts.length === 0) {
    const error = body?.error ?? {}
    parts.push(`${error.message ?? 'invalid prompt'}${error.details ? ` (${error.details})` : ''}${error.type ? ` [${error.type}]` : ''}`)
  }
  return new ComfyJobError(`ComfyUI rejected the workflow: ${parts.join('; ')}`)
}

/** An `execution_error` (from the socket or the history): the node, its class and the exception. */
export function executionError (data: Record<string, any>): ComfyJobError {
  const message = String(data.exception_message ?? '').trim()
  return new ComfyJobError(`ComfyUI node ${data.node_id} (${data.node_type}) raised ${data.exception_type ?? 'an exception'}: ${message || 'no message'}`)
}

/** POST /prompt answered 200 but dropped some outputs: the job would silently lose them. */
export function droppedOutputsError (nodeErrors: Record<string, unknown>, modelInputs: InputTarget[]): ComfyJobError {
  return validationError({ node_errors: nodeErrors }, modelInputs)
}
