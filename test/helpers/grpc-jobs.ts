import * as grpc from '@grpc/grpc-js'
import {
  createJobServiceClient,
  type GetStatusRequest, type JobCancelRequest, type JobCancelResponse, type JobServiceClient, type JobState,
  type ListJobsRequest, type ListJobsResponse, type SubmitRequest, type SubmitResponse, type WatchJobRequest, type WatchJobResponse
} from '@comfy-jobs/rpc'

interface UnaryMethods {
  Submit: [SubmitRequest, SubmitResponse]
  GetStatus: [GetStatusRequest, JobState]
  CancelJob: [JobCancelRequest, JobCancelResponse]
  ListJobs: [ListJobsRequest, ListJobsResponse]
}

export interface WatchResult {
  messages: WatchJobResponse[]
  status: grpc.StatusObject
}

/** A real grpc-js client of the gateway's JobService, with promises for tests. */
export class JobsGrpc {
  readonly client: JobServiceClient

  constructor (address: string) {
    this.client = createJobServiceClient(address)
  }

  call<M extends keyof UnaryMethods> (method: M, request: UnaryMethods[M][0], deadlineMs = 5000): Promise<UnaryMethods[M][1]> {
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as unknown as (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void
      fn.call(this.client, request, { deadline: Date.now() + deadlineMs }, (err, res) => err ? reject(err) : resolve(res as UnaryMethods[M][1]))
    })
  }

  /** Calls and expects an error; resolves with it. */
  async fails<M extends keyof UnaryMethods> (method: M, request: UnaryMethods[M][0], deadlineMs = 5000): Promise<grpc.ServiceError> {
    try {
      const res = await this.call(method, request, deadlineMs)
      throw new Error(`${method} succeeded but was expected to fail: ${JSON.stringify(res)}`)
    } catch (err) {
      if ((err as grpc.ServiceError).code === undefined) throw err
      return err as grpc.ServiceError
    }
  }

  /**
   * Reads a WatchJob stream until it ends (or until `stopWhen` holds for a message, then cancels it);
   * resolves with every message and the final status.
   */
  watch (request: WatchJobRequest, opts: { deadlineMs?: number, stopWhen?: (m: WatchJobResponse) => boolean, onMessage?: (m: WatchJobResponse) => void } = {}): Promise<WatchResult> {
    const call = this.client.WatchJob(request, { deadline: Date.now() + (opts.deadlineMs ?? 30_000) })
    const messages: WatchJobResponse[] = []
    return new Promise(resolve => {
      call.on('data', (m: WatchJobResponse) => {
        messages.push(m)
        opts.onMessage?.(m)
        if (opts.stopWhen?.(m)) call.cancel()
      })
      call.on('error', () => {}) // reported by 'status' too
      call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }))
    })
  }

  close (): void {
    this.client.close()
  }
}
