import { JobIdParams } from '@comfy-jobs/contracts'
import { compileBodyValidator } from '../validation.ts'
import { invalidRequest } from '../validation-errors.ts'

/** The job_id of a request, checked by the rules of REST's path parameter; INVALID_ARGUMENT otherwise. */
export function jobIdChecker (): (jobId: string) => string {
  const validate = compileBodyValidator(JobIdParams)
  return jobId => {
    if (!validate({ job_id: jobId })) throw invalidRequest(validate.errors ?? [], 'request')
    return jobId
  }
}
