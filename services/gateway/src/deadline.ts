export class DeadlineExceededError extends Error {
  constructor (what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`)
    this.name = 'DeadlineExceededError'
  }
}

/** Resolves or rejects with the promise, or rejects after `ms`; the promise itself is not cancelled. */
export function withDeadline<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  // one promise and one timer per call (no race, no finally): every status read goes through here
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineExceededError(what, ms)), ms)
    promise.then(value => {
      clearTimeout(timer)
      resolve(value)
    }, err => {
      clearTimeout(timer)
      reject(err)
    })
  })
}
