import { SEGMENT_FRAMES } from './workflow.ts'

/** The last frames of a segment dissolve into the next segment's first frame over this many frames. */
export const FADE_FRAMES = 6

export interface SegmentPosition {
  segment: number
  /** 0 at the segment's first frame, rising by 1/SEGMENT_FRAMES a frame */
  t: number
  /** how much of the next segment's first frame to mix in (0 outside a dissolve) */
  fade: number
}

export function segmentAt (frame: number, segments: number): SegmentPosition {
  const segment = Math.min(segments - 1, Math.floor(frame / SEGMENT_FRAMES))
  const local = frame - segment * SEGMENT_FRAMES
  const fadeStart = SEGMENT_FRAMES - FADE_FRAMES
  const fade = segment < segments - 1 && local >= fadeStart ? (local - fadeStart + 1) / (FADE_FRAMES + 1) : 0
  return { segment, t: local / SEGMENT_FRAMES, fade }
}
