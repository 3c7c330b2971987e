/** The job asks for something this engine cannot do (workflow, model, parameters); a retry won't help. */
export class UnsupportedJobError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UnsupportedJobError'
  }
}
