import { Type, type Static } from 'typebox'
import { HistoryJob } from './web-schemas.ts'

/** One job in a page of jobs: the REST history entry, which has the original's field names. */
export const JobSummary = HistoryJob
export type JobSummary = Static<typeof JobSummary>

/** A page of jobs, newest first; `total` counts every job, not just the page. */
export const JobPage = Type.Object({
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
  jobs: Type.Array(JobSummary)
})
export type JobPage = Static<typeof JobPage>
