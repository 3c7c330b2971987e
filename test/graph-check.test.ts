// A raw graph is checked against the node catalogue a ComfyUI worker reports (its /object_info, here
// the fake's, in both combo forms), as ComfyUI's own validation would: each fault names its node.
import t from 'tap'
import { checkGraph } from '../services/gateway/src/graphs/graph-check.ts'
import { catalogueOf } from '../services/worker/src/engines/comfyui/node-catalogue.ts'
import { nodeClasses, objectInfo, type CatalogOptions } from './fakes/comfyui/node-catalog.ts'
import { DEFAULT_MODELS } from './fakes/comfyui/fake-comfyui.ts'

function classesOf (comboForm: CatalogOptions['comboForm']) {
  const options: CatalogOptions = { models: DEFAULT_MODELS, samplers: ['euler', 'dpmpp_2m'], schedulers: ['normal', 'karras'], comboForm, inputFiles: ['cat.png'] }
  const info = Object.fromEntries(Object.entries(nodeClasses(options)).map(([name, cls]) => [name, objectInfo(name, cls, comboForm)]))
  return new Map(catalogueOf(info).classes.map(c => [c.name, c]))
}
const LIMITS = { maxNodes: 50 }

const sd = () => ({
  4: { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd_xl_base_1.0.safetensors' } },
  6: { class_type: 'CLIPTextEncode', inputs: { text: 'a red fox', clip: ['4', 1] } },
  7: { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
  5: { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
  3: { class_type: 'KSampler', inputs: { seed: 5, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
  8: { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
  9: { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } }
}) as Record<string, { class_type: string, inputs: Record<string, unknown> }>

for (const form of ['classic', 'v3'] as const) {
  t.test(`${form} combos: a valid graph has no problem; each fault names its node`, async t => {
    const classes = classesOf(form)
    t.same(checkGraph(sd(), classes, LIMITS), [])
    const cases: Array<[string, (g: ReturnType<typeof sd>) => void, Array<{ node: string | null, message: RegExp }>]> = [
      ['unknown class', g => { g[8].class_type = 'VAEDecodeTurbo' }, [{ node: '8', message: /^node 8 \(VAEDecodeTurbo\): the workers' ComfyUI has no such node class$/ }]],
      ['no class_type', g => { delete (g[8] as any).class_type }, [{ node: '8', message: /node 8 has no class_type/ }]],
      ['missing required input', g => { delete g[3].inputs.steps }, [{ node: '3', message: /node 3 \(KSampler\) input steps is required/ }]],
      ['link to a missing node', g => { g[8].inputs.vae = ['44', 2] }, [{ node: '8', message: /node 8 \(VAEDecode\) input vae links to node 44, which is not in the graph/ }]],
      ['link to a missing output', g => { g[8].inputs.vae = ['4', 3] }, [{ node: '8', message: /input vae links to output 3 of node 4 \(CheckpointLoaderSimple\), which has outputs 0\.\.2/ }]],
      ['link of the wrong type', g => { g[8].inputs.vae = ['4', 1] }, [{ node: '8', message: /input vae takes VAE but output 1 of node 4 \(CheckpointLoaderSimple\) is CLIP/ }]],
      ['a value where a link belongs', g => { g[8].inputs.samples = 3 }, [{ node: '8', message: /input samples: takes LATENT from a link/ }]],
      ['a number out of range', g => { g[3].inputs.steps = 0 }, [{ node: '3', message: /input steps: 0 is below the minimum 1/ }]],
      ['a choice ComfyUI lacks', g => { g[4].inputs.ckpt_name = 'nope.safetensors' }, [{ node: '4', message: /input ckpt_name: "nope\.safetensors" is not one of ComfyUI's values \(sd_xl_base_1\.0\.safetensors, v1-5/ }]],
      ['no output node', g => { delete g[9] }, [{ node: null, message: /has no output node/ }]]
    ]
    for (const [name, change, expected] of cases) {
      const graph = sd()
      change(graph)
      t.match(checkGraph(graph, classes, LIMITS), expected, name)
      t.equal(checkGraph(graph, classes, LIMITS).length, expected.length, `${name}: only that`)
    }
  })
}

t.test('what ComfyUI would not look at is not checked; uploads and limits', async t => {
  const classes = classesOf('classic')
  const dangling = { ...sd(), 20: { class_type: 'PrimitiveString', inputs: {} } }
  t.same(checkGraph(dangling, classes, LIMITS), [], 'a node no output needs may lack inputs (ComfyUI does not run it)')
  const unknownDangling = { ...sd(), 20: { class_type: 'Nope', inputs: {} } }
  t.match(checkGraph(unknownDangling, classes, LIMITS), [{ node: '20' }], 'but every class must exist (ComfyUI refuses the prompt)')
  const load = { 1: { class_type: 'LoadImage', inputs: { image: 'not-yet-uploaded.png' } }, 9: { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } }
  t.same(checkGraph(load, classes, LIMITS), [], 'a loader\'s file list is not checked: inputs are uploaded before the run')
  const big = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [String(i), { class_type: 'PrimitiveInt', inputs: { value: i } }]))
  t.match(checkGraph(big, classes, LIMITS), [{ node: null, message: /has 51 nodes; at most 50/ }])
  for (const bad of [null, [], 'graph', {}]) t.match(checkGraph(bad, classes, LIMITS), [{ node: null, message: /must be an API-format graph/ }])
})
