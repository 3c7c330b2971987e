import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobService } from '../jobs/job-service.ts'
import type { WatchDeps } from '../jobs/job-watch.ts'
import type { OpenStreams } from './open-streams.ts'
import type { SubmitRateLimiter } from '../limits/submit-rate.ts'
import type { CallerOf } from './authenticate.ts'

/** What the gRPC handlers use: the same JobService and watch as REST, nothing of their own. */
export interface GrpcDeps {
  jobs: JobService
  watch: WatchDeps
  streams: OpenStreams
  log: Logger
  /** who a call's `authorization` metadata names */
  callerOf: CallerOf
  /** how long a watch waits without events before it polls the log again */
  watchIdleMs: number
  /** submits per client (SUBMIT_RATE_LIMIT_PER_MINUTE, as REST); none: no limit */
  submitRate?: SubmitRateLimiter
}
