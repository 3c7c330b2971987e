/** The node classes the fake ComfyUI knows, shaped as /object_info describes them (protocol §5, §6). */

export interface FakeModels {
  checkpoints: string[]
  diffusion_models: string[]
  text_encoders: string[]
  vae: string[]
  loras: string[]
}

export interface CatalogOptions {
  models: FakeModels
  samplers: string[]
  schedulers: string[]
  /** classic `[[a, b], {}]` or V3 `["COMBO", {options: [a, b]}]` combo inputs */
  comboForm: 'classic' | 'v3'
}

/** [type or combo options, options] */
export type InputSpec = [string | string[], Record<string, any>?]

export interface NodeClass {
  required: Record<string, InputSpec>
  optional?: Record<string, InputSpec>
  output: string[]
  output_name?: string[]
  output_node?: boolean
  category: string
}

const INT = (def: number, min: number, max: number, step = 1): InputSpec => ['INT', { default: def, min, max, step }]
const FLOAT = (def: number, min: number, max: number, step = 0.01): InputSpec => ['FLOAT', { default: def, min, max, step }]

export function nodeClasses (o: CatalogOptions): Record<string, NodeClass> {
  return {
    CheckpointLoaderSimple: { required: { ckpt_name: [o.models.checkpoints, {}] }, output: ['MODEL', 'CLIP', 'VAE'], category: 'loaders' },
    UNETLoader: {
      required: { unet_name: [o.models.diffusion_models, {}], weight_dtype: [['default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2'], {}] },
      output: ['MODEL'],
      category: 'advanced/loaders'
    },
    CLIPLoader: {
      required: { clip_name: [o.models.text_encoders, {}], type: [['stable_diffusion', 'stable_cascade', 'sd3', 'stable_audio', 'mochi', 'ltxv', 'pixart', 'cosmos', 'lumina2', 'wan', 'hidream', 'chroma', 'ace', 'omnigen2', 'qwen_image'], {}] },
      optional: { device: [['default', 'cpu'], { advanced: true }] },
      output: ['CLIP'],
      category: 'advanced/loaders'
    },
    VAELoader: { required: { vae_name: [o.models.vae, {}] }, output: ['VAE'], category: 'loaders' },
    ModelSamplingAuraFlow: { required: { model: ['MODEL'], shift: FLOAT(1.73, 0, 100) }, output: ['MODEL'], category: 'advanced/model' },
    CLIPTextEncode: { required: { text: ['STRING', { multiline: true, dynamicPrompts: true }], clip: ['CLIP'] }, output: ['CONDITIONING'], category: 'conditioning' },
    ConditioningZeroOut: { required: { conditioning: ['CONDITIONING'] }, output: ['CONDITIONING'], category: 'advanced/conditioning' },
    EmptyLatentImage: { required: { width: INT(512, 16, 16384, 8), height: INT(512, 16, 16384, 8), batch_size: INT(1, 1, 4096) }, output: ['LATENT'], category: 'latent' },
    EmptySD3LatentImage: { required: { width: INT(1024, 16, 16384, 16), height: INT(1024, 16, 16384, 16), batch_size: INT(1, 1, 4096) }, output: ['LATENT'], category: 'latent/sd3' },
    KSampler: {
      required: {
        model: ['MODEL'],
        seed: INT(0, 0, 0xffffffffffffffff),
        steps: INT(20, 1, 10000),
        cfg: FLOAT(8, 0, 100, 0.1),
        sampler_name: [o.samplers, {}],
        scheduler: [o.schedulers, {}],
        positive: ['CONDITIONING'],
        negative: ['CONDITIONING'],
        latent_image: ['LATENT'],
        denoise: FLOAT(1, 0, 1)
      },
      output: ['LATENT'],
      category: 'sampling'
    },
    VAEDecode: { required: { samples: ['LATENT'], vae: ['VAE'] }, output: ['IMAGE'], category: 'latent' },
    SaveImage: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] }, output: [], output_node: true, category: 'image' },
    PreviewImage: { required: { images: ['IMAGE'] }, output: [], output_node: true, category: 'image' }
  }
}

function specForm (spec: InputSpec, form: CatalogOptions['comboForm']): unknown[] {
  const [type, options = {}] = spec
  if (!Array.isArray(type)) return options && Object.keys(options).length > 0 ? [type, options] : [type]
  return form === 'v3' ? ['COMBO', { ...options, options: type, multiselect: false }] : [type, options]
}

/** One class as /object_info shows it. */
export function objectInfo (name: string, cls: NodeClass, form: CatalogOptions['comboForm']): Record<string, unknown> {
  const section = (inputs: Record<string, InputSpec> | undefined) =>
    Object.fromEntries(Object.entries(inputs ?? {}).map(([k, spec]) => [k, specForm(spec, form)]))
  return {
    input: { required: section(cls.required), ...(cls.optional ? { optional: section(cls.optional) } : {}) },
    input_order: { required: Object.keys(cls.required), ...(cls.optional ? { optional: Object.keys(cls.optional) } : {}) },
    output: cls.output,
    output_is_list: cls.output.map(() => false),
    output_name: cls.output_name ?? cls.output,
    output_tooltips: cls.output.map(() => ''),
    name,
    display_name: name,
    description: '',
    python_module: 'nodes',
    category: cls.category,
    output_node: cls.output_node === true
  }
}
