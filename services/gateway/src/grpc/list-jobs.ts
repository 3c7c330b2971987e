import type * as grpc from '@grpc/grpc-js'
import type { ListJobsRequest, ListJobsResponse } from '@comfy-jobs/rpc'
import type { GrpcDeps } from './deps.ts'
import { jobSummary } from './messages.ts'
import { unary } from './unary.ts'
import { ownerScope } from '../auth/caller.ts'

/** ListJobs: JobService.list, newest first, limit capped at 100. */
export function listJobs (deps: GrpcDeps): grpc.handleUnaryCall<ListJobsRequest, ListJobsResponse> {
  return unary(deps, 'read', async (request, _signal, _metadata, caller) => {
    const page = await deps.jobs.list({ limit: request.limit, offset: request.offset }, ownerScope(caller))
    return { ...page, jobs: page.jobs.map(jobSummary) }
  })
}
