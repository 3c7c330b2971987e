import { faceSwap } from './face-swap.ts'
import { firstLastFrameVideo } from './first-last-frame-video.ts'
import { imageBlend } from './image-blend.ts'
import { imageEdit } from './image-edit.ts'
import { imageToVideo } from './image-to-video.ts'
import { sketchToImage } from './sketch-to-image.ts'
import { talkingAvatar } from './talking-avatar.ts'
import { textToImage } from './text-to-image.ts'
import { textToVideo } from './text-to-video.ts'
import { upscale } from './upscale.ts'
import type { Workflow } from './workflow.ts'

/** Every shipped workflow, as the built-in renderer runs it. */
export const BUILTIN_RENDERERS: Record<string, Workflow> = {
  text_to_image: textToImage,
  single_image_edit: imageEdit,
  face_swap: faceSwap,
  multi_image_blend: imageBlend,
  sketch_to_image: sketchToImage,
  upscale,
  image_to_video: imageToVideo,
  text_to_video: textToVideo,
  first_last_frame_video: firstLastFrameVideo,
  talking_avatar: talkingAvatar
}
