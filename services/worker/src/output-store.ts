/** Output bytes of jobs whose terminal event is not acked yet, for GetOutput. Memory only. */
export class OutputStore {
  readonly #byJob = new Map<string, Map<string, Buffer>>()

  put (jobId: string, name: string, data: Buffer): void {
    let files = this.#byJob.get(jobId)
    if (files === undefined) {
      files = new Map()
      this.#byJob.set(jobId, files)
    }
    files.set(name, data)
  }

  get (jobId: string, name: string): Buffer | undefined {
    return this.#byJob.get(jobId)?.get(name)
  }

  release (jobId: string): void {
    this.#byJob.delete(jobId)
  }

  get jobCount (): number {
    return this.#byJob.size
  }
}
