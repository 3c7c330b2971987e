import { Type, type Static } from 'typebox'
import { ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DEFAULT_MODEL, DEFAULT_WORKFLOW, MAX_BATCH_SIZE, MAX_PROMPT_LENGTH, MAX_SEED } from './params.ts'

export const GenerateBody = Type.Object({
  prompt: Type.String({ minLength: 1, maxLength: MAX_PROMPT_LENGTH, pattern: '\\S' }),
  workflow: Type.String({ minLength: 1, maxLength: 64, default: DEFAULT_WORKFLOW }),
  model: Type.String({ minLength: 1, maxLength: 128, default: DEFAULT_MODEL }),
  aspect_ratio: Type.Union(Object.keys(ASPECT_RATIOS).map(r => Type.Literal(r)), { default: DEFAULT_ASPECT_RATIO }),
  seed: Type.Union([Type.Literal(-1), Type.Integer({ minimum: 0, maximum: MAX_SEED })], { default: -1 }),
  batch_size: Type.Integer({ minimum: 1, maximum: MAX_BATCH_SIZE, default: 1 })
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
  mime: Type.String(),
  width: Type.Integer(),
  height: Type.Integer(),
  bytes: Type.Integer()
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
  updated_at: Type.Optional(Nullable(Type.String()))
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
      connected: Type.Boolean(),
      standby: Type.Boolean(),
      worker_id: Nullable(Type.String()),
      /** the worker takes jobs (its engine's backend, e.g. ComfyUI, answers) */
      ready: Type.Boolean()
    }))
  })
})

/** GET /api/workflows: what the connected workers can run, each workflow with the models it takes. */
export const WorkflowsResponse = Type.Object({
  workflows: Type.Array(Type.Object({ name: Type.String(), models: Type.Array(Type.String()) }))
})

/** GET /api/models: the models the workers can load, each with the workflows that take it. */
export const ModelsResponse = Type.Object({
  models: Type.Array(Type.Object({ name: Type.String(), workflows: Type.Array(Type.String()) }))
})
