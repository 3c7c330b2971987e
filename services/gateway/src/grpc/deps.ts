import type { FastifyBaseLogger as Logger } from 'fastify'
import type { JobService } from '../jobs/job-service.ts'
import type { WatchDeps } from '../jobs/job-watch.ts'
import type { OpenStreams } from './open-streams.ts'

/** What the gRPC handlers use: the same JobService and watch as REST, nothing of their own. */
export interface GrpcDeps {
  jobs: JobService
  watch: WatchDeps
  streams: OpenStreams
  log: Logger
  /** whether the event history (Redis) can be read now: tells an outage from a bug when a watch fails */
  eventsReadable: () => boolean
  /** how long a watch waits without events before it polls the log again */
  watchIdleMs: number
}
