import { Type, type Static } from 'typebox'
import { JobStatusName } from './schemas.ts'

/** One job in a history page: the original's fields. */
export const JobSummary = Type.Object({
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
  output_path: Type.Union([Type.String(), Type.Null()])
})
export type JobSummary = Static<typeof JobSummary>

/** A page of jobs, newest first; `total` counts every job, not just the page. */
export const JobPage = Type.Object({
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
  jobs: Type.Array(JobSummary)
})
export type JobPage = Static<typeof JobPage>
