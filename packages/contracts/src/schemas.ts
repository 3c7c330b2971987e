import { Type, type Static } from 'typebox'
import { ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DEFAULT_WORKFLOW, MAX_BATCH_SIZE, MAX_PROMPT_LENGTH, MAX_SEED } from './params.ts'
import { INPUT_NAME_PATTERN, MAX_IMAGES_PER_INPUT, MAX_PROMPTS } from './workflow-inputs.ts'

/** One input file: the name POST /api/upload returned, or a data: URL (decoded and stored like an upload). */
const InputFile = Type.String({ minLength: 1, description: 'the name POST /api/upload returned, or a data: URL; never a URL to fetch' })

/** The events a job's webhook can be sent. */
export const WEBHOOK_EVENT_NAMES = ['start', 'progress', 'output', 'completed'] as const

export const GenerateBody = Type.Object({
  prompt: Type.Optional(Type.String({ maxLength: MAX_PROMPT_LENGTH, description: 'what to make; required (non-blank) where the workflow says so (GET /api/workflows)' })),
  workflow: Type.String({ minLength: 1, maxLength: 64, default: DEFAULT_WORKFLOW }),
  model: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'default: the workflow\'s first model (turbo_fp8 for text_to_image)' })),
  aspect_ratio: Type.Union(Object.keys(ASPECT_RATIOS).map(r => Type.Literal(r)), { default: DEFAULT_ASPECT_RATIO }),
  seed: Type.Union([Type.Literal(-1), Type.Integer({ minimum: 0, maximum: MAX_SEED })], { default: -1 }),
  batch_size: Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE, default: 1 }),
  inputs: Type.Optional(Type.Record(Type.String({ pattern: INPUT_NAME_PATTERN }),
    Type.Union([InputFile, Type.Array(InputFile, { minItems: 1, maxItems: MAX_IMAGES_PER_INPUT })]),
    { maxProperties: 16, additionalProperties: false, description: 'media inputs by the names the workflow declares; a list for an `images` input' })),
  images: Type.Optional(Type.Record(Type.String({ pattern: INPUT_NAME_PATTERN }), Type.Union([InputFile, Type.Null()]),
    { maxProperties: 16, additionalProperties: false, description: 'the original web page\'s form: input name (or member name such as shot1) → data: URL; null entries are ignored' })),
  audio: Type.Optional(Type.Union([InputFile, Type.Null()], { description: 'the original web page\'s form: the workflow\'s audio input' })),
  prompts: Type.Optional(Type.Array(Type.String({ maxLength: MAX_PROMPT_LENGTH }), { maxItems: MAX_PROMPTS, description: 'video segments\' prompts, where the workflow takes them; blank entries are dropped' })),
  mode: Type.Optional(Type.Union([Type.Literal('single'), Type.Literal('multi')], { description: 'the original page\'s long-video mode; informational: a non-empty prompts list is what makes a job multi-segment' })),
  filenames: Type.Optional(Type.Record(Type.String({ pattern: INPUT_NAME_PATTERN }), Type.String({ maxLength: 255 }), {
    maxProperties: 16,
    additionalProperties: false,
    description: 'the original page\'s form: the names the user\'s files had (input name → file name); not used'
  })),
  workflow_graph: Type.Optional(Type.Record(Type.String(), Type.Unknown(), {
    minProperties: 1,
    description: 'a ComfyUI API-format graph (node id → {class_type, inputs}) to run instead of a workflow by name, checked against the ComfyUI workers\' nodes; only where ALLOW_RAW_GRAPHS is on. workflow and model are then not used.'
  })),
  webhook: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'an https URL that gets the job\'s events as signed POSTs (Standard Webhooks); http only to the hosts in WEBHOOK_ALLOW_HTTP_HOSTS; never a loopback, private, link-local or metadata address'
  })),
  webhook_events_filter: Type.Optional(Type.Array(Type.Union(WEBHOOK_EVENT_NAMES.map(e => Type.Literal(e))), {
    minItems: 1,
    maxItems: WEBHOOK_EVENT_NAMES.length,
    uniqueItems: true,
    description: 'which events go to the webhook (default: all of start, progress, output, completed)'
  }))
}, { additionalProperties: false })
export type GenerateBody = Static<typeof GenerateBody>

export const GenerateAccepted = Type.Object({
  job_id: Type.String(),
  status: Type.Literal('queued'),
  message: Type.String()
})

export const ErrorBody = Type.Object({
  error: Type.String(),
  code: Type.String(),
  message: Type.Optional(Type.String()),
  details: Type.Optional(Type.Unknown()),
  job_id: Type.Optional(Type.String())
})

export const JobIdParams = Type.Object({
  job_id: Type.String({ minLength: 1, maxLength: 200 })
})

export const JobStatusName = Type.Union([
  Type.Literal('queued'), Type.Literal('processing'), Type.Literal('finished'), Type.Literal('failed'), Type.Literal('cancelled')
])

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()])

export const OutputInfo = Type.Object({
  index: Type.Integer(),
  url: Type.String(),
  kind: Type.Union([Type.Literal('image'), Type.Literal('video'), Type.Literal('audio')]),
  /** the content type */
  mime: Type.String(),
  width: Type.Integer({ description: '0 for audio' }),
  height: Type.Integer({ description: '0 for audio' }),
  bytes: Type.Integer(),
  duration_ms: Type.Optional(Type.Integer({ description: 'video and audio' })),
  frames: Type.Optional(Type.Integer({ description: 'video' }))
})

export const StatusResponse = Type.Object({
  job_id: Type.String(),
  status: JobStatusName,
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  image_url: Nullable(Type.String()),
  error: Nullable(Type.String()),
  source: Type.Union([Type.Literal('redis'), Type.Literal('database')]),
  step: Type.Optional(Type.Integer()),
  total_steps: Type.Optional(Type.Integer()),
  node: Type.Optional(Type.String()),
  outputs: Type.Optional(Type.Array(OutputInfo)),
  created_at: Type.Optional(Nullable(Type.String())),
  started_at: Type.Optional(Nullable(Type.String())),
  finished_at: Type.Optional(Nullable(Type.String())),
  updated_at: Type.Optional(Nullable(Type.String())),
  waiting_reason: Type.Optional(Type.String({ description: 'why a queued job does not run yet: no live worker can run its workflow with its model (it runs once one can)' }))
})
export type StatusResponse = Static<typeof StatusResponse>

export const NotFoundBody = Type.Object({
  error: Type.String(),
  code: Type.String(),
  job_id: Type.String(),
  message: Type.String()
})

export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  redis: Type.Union([Type.Literal('healthy'), Type.Literal('unavailable')]),
  mysql: Type.Union([Type.Literal('healthy'), Type.Literal('unavailable')]),
  workers: Type.Object({
    configured: Type.Integer(),
    /** workers whose events this gateway ingests */
    connected: Type.Integer(),
    /** workers that answer while another gateway ingests their events */
    standby: Type.Integer(),
    list: Type.Array(Type.Object({
      address: Type.String(),
      /** found in the worker registry (not in WORKER_ADDRESSES) */
      discovered: Type.Boolean(),
      connected: Type.Boolean(),
      standby: Type.Boolean(),
      worker_id: Nullable(Type.String()),
      /** the worker takes jobs (its engine's backend, e.g. ComfyUI, answers; a gateway streams it) */
      ready: Type.Boolean(),
      /** why not, when not ready */
      not_ready_reason: Type.Optional(Type.String())
    })),
    /**
     * workers consuming this gateway's queue that no gateway streams, as they say in Redis (a worker
     * in no gateway's WORKER_ADDRESSES): they take no jobs, and the status is degraded
     */
    unstreamed: Type.Array(Type.Object({ worker_id: Type.String(), since: Type.String() }))
  })
})

export const WorkflowInput = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('image'), Type.Literal('images'), Type.Literal('mask'), Type.Literal('audio')]),
  required: Type.Boolean(),
  min: Type.Integer({ description: 'fewest files' }),
  max: Type.Integer({ description: 'most files' }),
  members: Type.Array(Type.String(), { description: 'names the files of an images input may be sent under one by one, in order' }),
  description: Type.String(),
  accepts: Type.Array(Type.String(), { description: 'content types, checked by the bytes' }),
  max_bytes: Type.Integer({ description: 'per file' }),
  max_pixels: Type.Optional(Type.Integer({ description: 'per image, read from its header' })),
  max_side: Type.Optional(Type.Integer({ description: 'longest side of an image, in pixels' }))
})

/** GET /api/workflows: what the connected workers can run, each workflow with its inputs and the models it takes. */
export const WorkflowsResponse = Type.Object({
  workflows: Type.Array(Type.Object({
    name: Type.String(),
    aliases: Type.Array(Type.String(), { description: 'other names a submit may use for it (the original pages\' names)' }),
    description: Type.String(),
    models: Type.Array(Type.String(), { description: 'the first is the default' }),
    model_files: Type.Array(Type.String(), { description: 'the files the template needs on a ComfyUI worker' }),
    prompt: Type.Union([Type.Literal('required'), Type.Literal('optional'), Type.Literal('none')]),
    max_prompts: Type.Integer({ description: 'most entries in `prompts`; 0: none' }),
    inputs: Type.Array(WorkflowInput)
  }))
})

/**
 * GET /api/models, the original's shape: the model names a submit's `model` takes, those of workflows
 * that load a diffusion model (UNET) apart; the default workflow's default first. Which workflow takes
 * which model: GET /api/workflows.
 */
export const ModelsResponse = Type.Object({
  models: Type.Array(Type.String(), { description: 'models of checkpoint (and other) loaders, and those of workers that load no files' }),
  unet_models: Type.Array(Type.String(), { description: 'models of workflows whose templates load a diffusion model (ComfyUI diffusion_models/)' })
})
