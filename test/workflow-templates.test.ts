// Every shipped template is a graph the real ComfyUI 0.8.0 takes: each node's class exists, its
// required inputs are there, links join outputs to inputs of the same type, literal values are in
// their lists and ranges, and every model file a loader names is in the manifest's `requires`. The
// classes are checked against /object_info of the real server (test/fixtures, read from
// shared/comfyui-real: the classes the templates use). And for every number of files a media input
// may take, the graph the worker sends still holds: an empty slot's loader goes, and only optional
// inputs lose their link.
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parseTemplate, type WorkflowTemplate } from '../services/worker/src/engines/comfyui/workflow-template.ts'
import { injectJob } from '../services/worker/src/engines/comfyui/template-injector.ts'
import { parseDeclaration } from '../services/worker/src/engines/workflow-declaration.ts'
import { runnableOf } from '../services/gateway/src/ingest/runnable.ts'
import type { ApiGraph } from '../services/worker/src/engines/comfyui/comfy-http.ts'
import type { QueuedJob } from '@comfy-jobs/contracts'

const SHIPPED = join(import.meta.dirname, '..', 'services', 'worker', 'workflows')
const CATALOGUE: Record<string, { input: { required?: Record<string, any[]>, optional?: Record<string, any[]> }, output: string[] }> =
  JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'comfyui-0.8.0-object-info.json'), 'utf8'))

/** Loader inputs that take a file from a model folder: the folder `requires` names it under. */
const MODEL_FOLDERS: Record<string, string> = {
  'UNETLoader.unet_name': 'diffusion_models',
  'CLIPLoader.clip_name': 'text_encoders',
  'VAELoader.vae_name': 'vae',
  'CheckpointLoaderSimple.ckpt_name': 'checkpoints',
  'ControlNetLoader.control_net_name': 'controlnet',
  'UpscaleModelLoader.model_name': 'upscale_models',
  'CLIPVisionLoader.clip_name': 'clip_vision',
  'AudioEncoderLoader.audio_encoder_name': 'audio_encoders'
}
/** Loader inputs that take an uploaded file: the manifest's media slots fill them. */
const UPLOAD_INPUTS = new Set(['LoadImage.image', 'LoadAudio.audio'])

const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1])

/** What ComfyUI's validation would say about the graph (the parts a template decides); [] when it would run. */
function problems (graph: ApiGraph, template: WorkflowTemplate, requires: string[]): string[] {
  const found: string[] = []
  const slotted = new Set(Object.values(template.slots).flat(2).map(({ node, input }) => `${node}.${input}`))
  for (const [id, node] of Object.entries(graph)) {
    const cls = CATALOGUE[node.class_type]
    if (cls === undefined) { found.push(`${id}: ComfyUI 0.8.0 has no class ${node.class_type}`); continue }
    const required = cls.input.required ?? {}
    const optional = cls.input.optional ?? {}
    for (const name of Object.keys(required)) if (!(name in node.inputs)) found.push(`${id} (${node.class_type}): required input ${name} is missing`)
    for (const [name, value] of Object.entries(node.inputs)) {
      const spec = required[name] ?? optional[name]
      if (spec === undefined) { found.push(`${id} (${node.class_type}): no input ${name}`); continue }
      const [type, options = {}] = spec
      const key = `${node.class_type}.${name}`
      if (isLink(value)) {
        const source = graph[value[0]]
        const produced = source === undefined ? undefined : CATALOGUE[source.class_type]?.output[value[1]]
        if (produced === undefined) found.push(`${id}.${name}: links to a missing node or output ${JSON.stringify(value)}`)
        else if (produced !== type && type !== '*') found.push(`${id}.${name}: ${produced} into ${String(type)}`)
        continue
      }
      if (MODEL_FOLDERS[key] !== undefined) {
        if (!requires.includes(`${MODEL_FOLDERS[key]}/${String(value)}`)) found.push(`${id}.${name}: ${MODEL_FOLDERS[key]}/${String(value)} is not in the manifest's requires`)
        continue
      }
      if (UPLOAD_INPUTS.has(key)) {
        if (!slotted.has(`${id}.${name}`)) found.push(`${id}.${name}: a loader of uploads that no media input fills`)
        continue
      }
      const choices = Array.isArray(type) ? type : type === 'COMBO' ? options.options : null
      if (choices !== null) {
        if (!choices.includes(value)) found.push(`${id}.${name}: ${JSON.stringify(value)} is not one of ${choices.join(', ')}`)
      } else if (type === 'INT' || type === 'FLOAT') {
        if (typeof value !== 'number' || (type === 'INT' && !Number.isInteger(value))) found.push(`${id}.${name}: ${JSON.stringify(value)} is not an ${type}`)
        else if ((options.min !== undefined && value < options.min) || (options.max !== undefined && value > options.max)) found.push(`${id}.${name}: ${value} is outside ${options.min}..${options.max}`)
      } else if (type === 'BOOLEAN' && typeof value !== 'boolean') found.push(`${id}.${name}: not true or false`)
      else if (type === 'STRING' && typeof value !== 'string') found.push(`${id}.${name}: not a string`)
    }
  }
  return found
}

const job = (inputs: QueuedJob['inputs'] = {}): QueuedJob => ({
  job_id: '00000000-0000-7000-8000-000000000000',
  workflow: 'w',
  model: 'm',
  prompt: 'a prompt',
  params: { aspect_ratio: '16:9', width: 1216, height: 832, seed: 42, batch_size: 1 },
  inputs
})

const names = (await readdir(SHIPPED)).sort()
t.ok(names.length >= 10, `${names.length} shipped templates`)

for (const name of names) {
  t.test(name, async t => {
    const folder = join(SHIPPED, name)
    const graph = JSON.parse(await readFile(join(folder, 'graph.json'), 'utf8'))
    const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8'))
    const template = parseTemplate(name, folder, graph, manifest)
    const requires: string[] = template.declaration.model_files
    t.ok(requires.length > 0, 'the manifest names the model files it needs')
    t.same(problems(graph, template, requires), [], 'the graph as shipped is valid for ComfyUI 0.8.0')
    // every count of files each media input may take, the others at their minimum (at least one)
    for (const input of template.declaration.inputs) {
      for (let n = Math.max(input.min, 1); n <= input.max; n++) {
        const uploaded: Record<string, string[]> = {}
        for (const other of template.declaration.inputs) {
          const count = other === input ? n : Math.max(other.min, 1)
          uploaded[other.name] = Array.from({ length: count }, (_, i) => `${other.name}-${i}.${other.kind === 'audio' ? 'wav' : 'png'}`)
        }
        const sent = injectJob(template, job(), manifest.models[Object.keys(manifest.models)[0]].file, uploaded)
        t.same(problems(sent, template, requires), [], `${input.name} with ${n} file(s): the graph sent is valid`)
        const loaders = template.slots[input.name]
        loaders.forEach((slot, i) => {
          for (const { node, input: field } of slot) {
            if (i < n) t.equal(sent[node]?.inputs[field], `${input.name}-${i}.${input.kind === 'audio' ? 'wav' : 'png'}`, `${input.name}[${i}] goes into node ${node}`)
            else t.notOk(node in sent, `${input.name}[${i}] is empty: its loader ${node} is gone`)
          }
        })
      }
    }
  })
}

t.test('aliases: the original pages\' names, declared by the manifests; a bad one is refused naming it', async t => {
  const aliases: Record<string, string[]> = {}
  for (const name of names) {
    const manifest = JSON.parse(await readFile(join(SHIPPED, name, 'manifest.json'), 'utf8'))
    const { aliases: own } = parseDeclaration(manifest)
    if (own.length > 0) aliases[name] = own
  }
  t.same(aliases, {
    first_last_frame_video: ['FLF', 'flf_veo3'],
    image_to_video: ['veo3_long_video'],
    talking_avatar: ['virtual_human'],
    text_to_video: ['T2V', 't2v_veo3']
  })
  t.throws(() => parseDeclaration({ aliases: 'T2V' }), /manifest aliases must be a list of workflow names/)
  t.throws(() => parseDeclaration({ aliases: ['a b'] }), /manifest aliases must be a list of workflow names/)
  t.same(parseDeclaration({}).aliases, [], 'none by default')
})

t.test('the gateway\'s alias map: the first worker\'s claim counts, a workflow\'s own name is never an alias', async t => {
  const runnable = runnableOf([
    { runnable: [{ workflow: 'text_to_video', models: ['m'], aliases: ['T2V', 'face_swap'] }, { workflow: 'face_swap', models: ['m'] }] },
    { runnable: [{ workflow: 'other_video', models: ['m'], aliases: ['T2V'] }] }
  ] as any)
  t.same([...runnable.aliases], [['T2V', 'text_to_video']])
})
