/** Bytes that are not media this package can read (unknown format, corrupt, or beyond a limit). */
export class MediaError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'MediaError'
  }
}
