/**
 * What a workflow takes besides the common parameters, as its template's manifest declares it. Workers
 * report it (GetInfo); the gateway checks every submit against it and lists it at GET /api/workflows.
 */

/** `images` is a list of images (with min/max); the others are one file each. */
export type DeclaredKind = 'image' | 'images' | 'mask' | 'audio'
export const DECLARED_KINDS: readonly DeclaredKind[] = ['image', 'images', 'mask', 'audio']

/** Whether a job of the workflow must say what to make. */
export type PromptRule = 'required' | 'optional' | 'none'
export const PROMPT_RULES: readonly PromptRule[] = ['required', 'optional', 'none']

export interface MediaInputDeclaration {
  name: string
  kind: DeclaredKind
  required: boolean
  /** how many files: 1..1 for single kinds (0..1 when optional), min..max for `images` */
  min: number
  max: number
  /**
   * For `images`: names the members may be sent under one by one, in list order (the original web
   * page sends `source`, `target`, `extra` or `shot1`…`shot5` instead of one list).
   */
  members: string[]
  description: string
}

export interface WorkflowDeclaration {
  description: string
  prompt: PromptRule
  /** the most `prompts` (segments) a job may carry; 0: the workflow takes none */
  max_prompts: number
  inputs: MediaInputDeclaration[]
}

/** At most this many entries in `prompts`, whatever a template declares. */
export const MAX_PROMPTS = 10
/** At most this many files in one `images` input. */
export const MAX_IMAGES_PER_INPUT = 16
/** An input's name: what the manifest declares and a request uses as a key. */
export const INPUT_NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_]{0,63}$'

/** What text_to_image takes: a prompt and nothing else (what a worker that does not declare inputs takes). */
export const TEXT_ONLY: WorkflowDeclaration = { description: '', prompt: 'required', max_prompts: 0, inputs: [] }
