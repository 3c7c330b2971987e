/**
 * A place in a job's event history: the history's epoch and a seq in it. A history lives in Redis;
 * when Redis loses it, the next event begins a new one (seq 1, a new epoch), so a seq alone cannot
 * say where a watcher is. SSE event ids are `<epoch>.<seq>`; gRPC carries the two as fields.
 */
export interface EventPosition {
  epoch: string
  seq: number
}

/**
 * The epoch of histories written before epochs existed (their stream entry ids are `<seq>-0`), and of
 * a bare seq from a client of that time: such a seq still resumes such a history exactly.
 */
export const LEGACY_EPOCH = '0'

/** Before any event: seq 0 is in every history, so a watcher there misses nothing of any of them. */
export const START: EventPosition = { epoch: LEGACY_EPOCH, seq: 0 }

/**
 * Where a terminal job's history ends when neither the history nor the database says (a job that
 * ended before epochs existed, then lost its history). No history has epoch 1 (real ones are
 * microsecond clock readings, legacy ones 0), so only a watcher given this by a snapshot holds it.
 */
export const UNKNOWN_END: EventPosition = { epoch: '1', seq: 0 }

export function formatEventId (p: EventPosition): string {
  return `${p.epoch}.${p.seq}`
}

/** `<epoch>.<seq>`, or a bare `<seq>` (a legacy id); null for anything else. */
export function parseEventId (id: string): EventPosition | null {
  const match = /^(?:(\d{1,20})\.)?(\d{1,15})$/.exec(id)
  if (match === null) return null
  return { epoch: match[1] ?? LEGACY_EPOCH, seq: Number(match[2]) }
}

export function samePosition (a: EventPosition, b: EventPosition): boolean {
  return a.epoch === b.epoch && a.seq === b.seq
}
