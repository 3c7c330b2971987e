import type { JobServiceHandlers } from '@comfy-jobs/rpc'
import type { GrpcDeps } from './deps.ts'
import { submit } from './submit.ts'
import { getStatus } from './get-status.ts'
import { watchJob } from './watch-job.ts'
import { cancelJob } from './cancel-job.ts'
import { listJobs } from './list-jobs.ts'

export function jobServiceHandlers (deps: GrpcDeps): JobServiceHandlers {
  return {
    Submit: submit(deps),
    GetStatus: getStatus(deps),
    WatchJob: watchJob(deps),
    CancelJob: cancelJob(deps),
    ListJobs: listJobs(deps)
  }
}
