import type * as grpc from '@grpc/grpc-js'
import type { GetStatusRequest, JobState } from '@comfy-jobs/rpc'
import { AppError } from '../app-error.ts'
import type { GrpcDeps } from './deps.ts'
import { jobIdChecker } from './job-id.ts'
import { jobState } from './messages.ts'
import { unary } from './unary.ts'
import { ownerScope } from '../auth/caller.ts'

/** GetStatus: the REST status record (Redis first, then the database) as a JobState. */
export function getStatus (deps: GrpcDeps): grpc.handleUnaryCall<GetStatusRequest, JobState> {
  const checkJobId = jobIdChecker()
  return unary(deps, 'read', async (request, _signal, _metadata, caller) => {
    const status = await deps.jobs.status(checkJobId(request.job_id), ownerScope(caller))
    if (!status) throw new AppError('JOB_NOT_FOUND', { extra: { job_id: request.job_id } })
    return jobState(status)
  })
}
