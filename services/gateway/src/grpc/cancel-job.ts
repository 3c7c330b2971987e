import type * as grpc from '@grpc/grpc-js'
import { CANCEL_MESSAGE } from '@comfy-jobs/contracts'
import type { JobCancelRequest, JobCancelResponse } from '@comfy-jobs/rpc'
import type { GrpcDeps } from './deps.ts'
import { jobIdChecker } from './job-id.ts'
import { grpcStatus } from './messages.ts'
import { unary } from './unary.ts'
import { ownerScope } from '../auth/caller.ts'

/** CancelJob: JobService.cancel; a job that already ended is FAILED_PRECONDITION. */
export function cancelJob (deps: GrpcDeps): grpc.handleUnaryCall<JobCancelRequest, JobCancelResponse> {
  const checkJobId = jobIdChecker()
  return unary(deps, 'cancel', async (request, _signal, _metadata, caller) => {
    const { job_id: jobId, previous_status: previous } = await deps.jobs.cancel(checkJobId(request.job_id), ownerScope(caller))
    return { job_id: jobId, status: 'JOB_STATUS_CANCELLED', previous_status: grpcStatus(previous), message: CANCEL_MESSAGE }
  })
}
