import { Type, type Static } from 'typebox'
import { ASPECT_RATIOS, type AspectRatio } from './params.ts'
import { JobStatusName, Nullable, OutputInfo } from './schemas.ts'
import { UPLOAD_EXTENSIONS, type UploadType } from './media.ts'

/** A job id: a UUID in its 36-character text form. */
export const JOB_ID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

/** `limit` above this is capped (as the original did), not refused. */
export const HISTORY_MAX_LIMIT = 100
export const HISTORY_DEFAULT_LIMIT = 50

export const HistoryQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, default: HISTORY_DEFAULT_LIMIT, description: `page size; values above ${HISTORY_MAX_LIMIT} are capped to ${HISTORY_MAX_LIMIT}` }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0, description: 'jobs to skip (after `before`, when given)' }),
  before: Type.Optional(Type.String({ pattern: JOB_ID_PATTERN, description: 'a job id: list only jobs older than it (a cursor that stays stable while new jobs arrive)' }))
})
export type HistoryQuery = Static<typeof HistoryQuery>

/** One job in the history, with the original system's field names. */
export const HistoryJob = Type.Object({
  id: Type.String(),
  prompt: Type.String(),
  workflow: Type.String(),
  model: Type.String(),
  aspect_ratio: Type.String(),
  batch_size: Type.Integer(),
  seed: Type.Integer(),
  status: JobStatusName,
  created_at: Type.String(),
  updated_at: Type.String(),
  output_path: Nullable(Type.String()),
  error: Nullable(Type.String())
})
export type HistoryJob = Static<typeof HistoryJob>

export const HistoryResponse = Type.Object({
  total: Type.Integer({ minimum: 0, description: 'every job there is, not the page length' }),
  limit: Type.Integer(),
  offset: Type.Integer(),
  jobs: Type.Array(HistoryJob),
  next_before: Nullable(Type.String({ description: 'pass as `before` for the next page; null on the last page' }))
})
export type HistoryResponse = Static<typeof HistoryResponse>

export const QueueMetrics = Type.Object({
  queue_length: Type.Integer({ minimum: 0, description: 'jobs waiting in the queue (waiting + prioritized + delayed)' }),
  worker_status: Type.Union([Type.Literal('online'), Type.Literal('offline')], { description: 'online when at least one worker consumes the queue' }),
  active_jobs: Type.Integer({ minimum: 0 })
})
export type QueueMetrics = Static<typeof QueueMetrics>

export const JobParamsView = Type.Object({
  aspect_ratio: Type.Enum(Object.keys(ASPECT_RATIOS) as AspectRatio[]),
  width: Type.Integer(),
  height: Type.Integer(),
  seed: Type.Integer(),
  batch_size: Type.Integer()
})

/** A job's input as its record shows it: a reference to a stored upload. */
export const InputRefView = Type.Object({
  name: Type.String(),
  kind: Type.Union([Type.Literal('image'), Type.Literal('mask'), Type.Literal('audio')]),
  mime: Type.String(),
  bytes: Type.Integer(),
  width: Type.Optional(Type.Integer()),
  height: Type.Optional(Type.Integer()),
  duration_ms: Type.Optional(Type.Integer())
})

/** A job's full record: what was asked, when things happened, what came out. */
export const JobRecord = Type.Object({
  job_id: Type.String(),
  status: JobStatusName,
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  step: Nullable(Type.Integer()),
  total_steps: Nullable(Type.Integer()),
  prompt: Type.String(),
  workflow: Type.String(),
  model: Type.String(),
  params: JobParamsView,
  attempts: Type.Integer(),
  worker_id: Nullable(Type.String()),
  error: Nullable(Type.String()),
  image_url: Nullable(Type.String()),
  outputs: Type.Array(OutputInfo),
  inputs: Type.Record(Type.String(), Type.Union([InputRefView, Type.Array(InputRefView)]), { description: 'the media the job was given, by input name' }),
  prompts: Type.Array(Type.String()),
  created_at: Type.String(),
  started_at: Nullable(Type.String()),
  finished_at: Nullable(Type.String()),
  updated_at: Type.String(),
  waiting_reason: Type.Optional(Type.String({ description: 'why a queued job does not run yet: no live worker can run its workflow with its model (it runs once one can)' }))
})
export type JobRecord = Static<typeof JobRecord>

export const UploadResponse = Type.Object({
  name: Type.String({ description: 'content-hash file name; a job references the upload by it (`inputs`)' }),
  size: Type.Integer(),
  type: Type.Enum(Object.keys(UPLOAD_EXTENSIONS) as UploadType[], { description: 'the content type, read from the bytes' }),
  kind: Type.Union([Type.Literal('image'), Type.Literal('audio')]),
  width: Type.Optional(Type.Integer()),
  height: Type.Optional(Type.Integer()),
  filename: Type.String({ description: 'the same as name (the original system\'s field)' }),
  original_name: Type.String({ description: 'the file name the client sent (the original system\'s field)' })
})


/** The data of one live event (SSE `data:`), typed from the job's event history. */
export const JobEventData = Type.Object({
  job_id: Type.String(),
  seq: Type.Integer({ minimum: 1 }),
  epoch: Type.String({ description: 'the history seq counts in: a new one begins when Redis lost the old (the SSE id is `<epoch>.<seq>`)' }),
  type: Type.Union([JobStatusName, Type.Literal('progress')]),
  status: JobStatusName,
  at: Type.String(),
  progress: Type.Optional(Type.Integer()),
  step: Type.Optional(Type.Integer()),
  total_steps: Type.Optional(Type.Integer()),
  node: Type.Optional(Type.String()),
  attempt: Type.Optional(Type.Integer()),
  error: Type.Optional(Type.String()),
  image_url: Type.Optional(Type.String()),
  outputs: Type.Optional(Type.Array(OutputInfo))
})
export type JobEventData = Static<typeof JobEventData>

/** An SSE event id: `<epoch>.<seq>`, or a bare `<seq>` as ids were before epochs. */
export const EVENT_ID_PATTERN = '^([0-9]{1,20}\\.)?[0-9]{1,15}$'

export const EventStreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: EVENT_ID_PATTERN, description: 'resume after this event id (sent by EventSource on reconnect)' }))
})

export const EventStreamQuery = Type.Object({
  last_event_id: Type.Optional(Type.String({ pattern: EVENT_ID_PATTERN, description: 'same as the Last-Event-ID header, for EventSource polyfills' }))
})
