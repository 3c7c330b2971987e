import type { JobEventData, JobStatus } from '@comfy-jobs/contracts'
import type { EventPosition } from './event-position.ts'

const INTEGER_FIELDS = ['progress', 'step', 'total_steps', 'attempt'] as const

/** A stored event (Redis stream fields, all strings) as clients receive it: typed, outputs parsed. */
export function eventView (at: EventPosition, fields: Record<string, string>): JobEventData {
  const view: JobEventData = {
    job_id: fields.job_id,
    seq: at.seq,
    epoch: at.epoch,
    type: fields.type as JobEventData['type'],
    status: (fields.status ?? fields.type) as JobStatus,
    at: fields.at ?? ''
  }
  for (const name of INTEGER_FIELDS) {
    if (fields[name] !== undefined && fields[name] !== '') view[name] = Number(fields[name])
  }
  if (fields.node) view.node = fields.node
  if (fields.error) view.error = fields.error
  if (fields.image_url) view.image_url = fields.image_url
  if (fields.outputs) view.outputs = JSON.parse(fields.outputs)
  return view
}
