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
  /** files in the input folder (uploads), as the loaders list them */
  inputFiles: string[]
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
  /**
   * ComfyUI's VALIDATE_INPUTS: these inputs skip the combo check and are checked by the node itself
   * (LoadImage: the file must exist); the message becomes a `custom_validation_failed` error.
   */
  validate?: Record<string, (value: unknown) => string | null>
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
    LoadImage: {
      required: { image: [o.inputFiles.filter(f => /\.(png|jpe?g|webp)$/i.test(f)).sort(), { image_upload: true }] },
      output: ['IMAGE', 'MASK'],
      category: 'image',
      validate: { image: value => o.inputFiles.includes(String(value)) ? null : `Invalid image file: ${String(value)}` }
    },
    LoadAudio: {
      required: { audio: [o.inputFiles.filter(f => /\.(wav|mp3|flac|ogg|opus)$/i.test(f)).sort(), { audio_upload: true }] },
      output: ['AUDIO'],
      category: 'audio',
      validate: { audio: value => o.inputFiles.includes(String(value)) ? null : `Invalid audio file: ${String(value)}` }
    },
    ImageStitch: {
      required: { image1: ['IMAGE'], direction: [['right', 'down', 'left', 'up'], { default: 'right' }], match_image_size: ['BOOLEAN', { default: true }], spacing_width: INT(0, 0, 1024, 2), spacing_color: [['white', 'black', 'red', 'green', 'blue'], { default: 'white' }] },
      optional: { image2: ['IMAGE'] },
      output: ['IMAGE'],
      category: 'image/transform'
    },
    SaveAnimatedPNG: {
      required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }], fps: FLOAT(6, 0.01, 1000), compress_level: INT(4, 0, 9) },
      output: [],
      output_node: true,
      category: 'image/animation'
    },
    PreviewImage: { required: { images: ['IMAGE'] }, output: [], output_node: true, category: 'image' },
    // Model-free nodes, with the specs 0.8.0's /object_info gives (the real-ComfyUI tests use them)
    EmptyImage: {
      required: { width: ['INT', { default: 512, min: 1, max: 16384, step: 1 }], height: ['INT', { default: 512, min: 1, max: 16384, step: 1 }], batch_size: ['INT', { default: 1, min: 1, max: 4096 }], color: ['INT', { default: 0, min: 0, max: 16777215, step: 1, display: 'color' }] },
      output: ['IMAGE'],
      category: 'image'
    },
    ImageBlur: { required: { image: ['IMAGE', {}], blur_radius: ['INT', { default: 1, min: 1, max: 31, step: 1 }], sigma: ['FLOAT', { default: 1.0, min: 0.1, max: 10.0, step: 0.1 }] }, output: ['IMAGE'], category: 'image/postprocessing' },
    ImageInvert: { required: { image: ['IMAGE'] }, output: ['IMAGE'], category: 'image' },
    ImageScale: {
      required: { image: ['IMAGE'], upscale_method: [['nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos']], width: ['INT', { default: 512, min: 0, max: 16384, step: 1 }], height: ['INT', { default: 512, min: 0, max: 16384, step: 1 }], crop: [['disabled', 'center']] },
      output: ['IMAGE'],
      category: 'image/upscaling'
    },
    PrimitiveString: { required: { value: ['STRING', { multiline: false }] }, output: ['STRING'], category: 'utils/primitive' },
    PrimitiveInt: { required: { value: ['INT', { min: -9223372036854775807, max: 9223372036854775807, control_after_generate: true }] }, output: ['INT'], category: 'utils/primitive' }
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
