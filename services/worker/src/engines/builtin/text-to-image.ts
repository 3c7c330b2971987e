import { TestPattern } from './test-pattern.ts'
import type { ImageWorkflow } from './workflow.ts'

/** text_to_image: the procedural test pattern of prompt, seed and size. */
export const textToImage: ImageWorkflow = {
  output: 'image',
  kind: 'test-pattern',
  async plan ({ job, seed }) {
    const { width, height } = job.params
    const pattern = new TestPattern({ prompt: job.prompt, seed, width, height })
    return { image: pattern, renderRows: (from, to) => pattern.renderRows(from, to), declared: { seed, palette: pattern.palette } }
  }
}
