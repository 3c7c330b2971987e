import { readFile, writeFile } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { parseArgs } from 'node:util'
import { GatewayClient, GatewayError, type JobUpdate } from './gateway-client.ts'
import { ProgressBar } from './progress-bar.ts'

const USAGE = `Usage: comfy-jobs generate "<prompt>" [options]
       comfy-jobs keys create|list|revoke …   (API keys; comfy-jobs keys --help)

Submits a job to a comfy-jobs gateway (an image, a video or a sound, as the workflow makes).

Options:
  --wait                 follow the job's live progress until it ends, then save every output
                         in the current folder under its name ({job_id}.png, {job_id}.mp4, …)
  -o, --output <file>    save the output there (implies --wait); when the job makes several,
                         <file>'s name with _0, _1, … and each output's own extension
  --input <name>=<file>  an input file the workflow takes (uploaded first); repeat the same
                         name for an images input (see GET /api/workflows)
  --segment <prompt>     a video segment's prompt (repeatable, where the workflow takes them)
  --url <url>            gateway base URL (default http://127.0.0.1:5000); an API key, where the
                         gateway requires one, is read from COMFY_JOBS_API_KEY
  --aspect-ratio <r>     1:1, 16:9, 9:16 or 2:3 (default 1:1)
  --seed <n>             0..4294967295, or -1 for random (default -1)
  --model <name>         default turbo_fp8
  --workflow <name>      default text_to_image
  --batch-size <n>       1..4 (default 1)
  -h, --help             show this text

Exit status: 0 done (or submitted without --wait), 1 the job failed or was cancelled,
2 bad usage, 3 the gateway refused or could not be reached.`

function integer (name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(value)}`)
  return Number(value)
}

class UsageError extends Error {}

/**
 * Where an output is saved: under its own name (the URL's), or -o's path; for one of several
 * outputs, -o's name with the output's index and its own extension (cat.png → cat_0.png, cat_1.mp4).
 */
function savedName (url: string, output: string | undefined, index: number, count: number): string {
  const own = basename(new URL(url, 'http://x').pathname)
  if (output === undefined) return own
  if (count === 1) return output
  const ext = extname(output)
  return `${ext ? output.slice(0, -ext.length) : output}_${index}${extname(own)}`
}

/** Uploads each --input file; the body's inputs by name (a list where a name repeats). */
async function uploadInputs (client: GatewayClient, inputs: Array<[string, string]>): Promise<Record<string, string | string[]>> {
  const byName: Record<string, string[]> = {}
  for (const [name, path] of inputs) {
    let data: Buffer
    try {
      data = await readFile(path)
    } catch (e) {
      throw new UsageError(`--input ${name}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    ;(byName[name] ??= []).push(await client.upload(data, basename(path)))
  }
  return Object.fromEntries(Object.entries(byName).map(([name, names]) => [name, names.length === 1 ? names[0] : names]))
}

/** Runs the CLI with these arguments; returns the exit status. */
export async function main (argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  if (argv[0] === 'keys') {
    // loaded only here: the key commands talk to the database, the rest of the CLI to a gateway
    const { keysCommand } = await import('./keys-command.ts')
    return keysCommand(argv.slice(1), out, err)
  }
  let args
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        wait: { type: 'boolean', default: false },
        output: { type: 'string', short: 'o' },
        url: { type: 'string', default: 'http://127.0.0.1:5000' },
        'aspect-ratio': { type: 'string' },
        seed: { type: 'string' },
        model: { type: 'string' },
        workflow: { type: 'string' },
        'batch-size': { type: 'string' },
        input: { type: 'string', multiple: true, default: [] },
        segment: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean', short: 'h', default: false }
      }
    })
  } catch (e) {
    err.write(`comfy-jobs: ${(e as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = args
  if (values.help) {
    out.write(`${USAGE}\n`)
    return 0
  }
  const [command, ...rest] = positionals
  if (command !== 'generate' || rest.length > 1) {
    err.write(`comfy-jobs: expected: generate "<prompt>"\n\n${USAGE}\n`)
    return 2
  }
  let body: Record<string, unknown>
  let inputs: Array<[string, string]>
  try {
    inputs = values.input.map(spec => {
      const eq = spec.indexOf('=')
      if (eq < 1 || eq === spec.length - 1) throw new UsageError(`--input must be <name>=<file>, got ${JSON.stringify(spec)}`)
      return [spec.slice(0, eq), spec.slice(eq + 1)]
    })
    body = {
      ...(rest[0] !== undefined ? { prompt: rest[0] } : {}),
      ...(values.segment.length > 0 ? { prompts: values.segment } : {}),
      ...(values['aspect-ratio'] ? { aspect_ratio: values['aspect-ratio'] } : {}),
      ...(values.seed !== undefined ? { seed: integer('seed', values.seed) } : {}),
      ...(values.model ? { model: values.model } : {}),
      ...(values.workflow ? { workflow: values.workflow } : {}),
      ...(values['batch-size'] !== undefined ? { batch_size: integer('batch-size', values['batch-size']) } : {})
    }
    if (rest[0] === undefined && inputs.length === 0) throw new UsageError('expected: generate "<prompt>" (a prompt may be left out only for a workflow that takes --input files)')
  } catch (e) {
    err.write(`comfy-jobs: ${(e as Error).message}\n\n${USAGE}\n`)
    return 2
  }

  const client = new GatewayClient(values.url, process.env.COMFY_JOBS_API_KEY)
  try {
    if (inputs.length > 0) body.inputs = await uploadInputs(client, inputs)
    const jobId = await client.submit(body)
    out.write(`${jobId}\n`)
    if (!values.wait && !values.output) return 0
    const bar = new ProgressBar(err)
    let last: JobUpdate | null = null
    for await (const update of client.watch(jobId)) {
      last = update
      bar.update(update)
    }
    bar.done()
    if (last?.status !== 'finished') {
      err.write(`comfy-jobs: job ${jobId} ${last?.status ?? 'ended'}${last?.error ? `: ${last.error}` : ''}\n`)
      return 1
    }
    const outputs = last.outputs ?? (last.image_url ? [{ url: last.image_url }] : [])
    if (outputs.length === 0) {
      err.write(`comfy-jobs: job ${jobId} finished without an output\n`)
      return 1
    }
    for (const [i, output] of outputs.entries()) {
      const target = savedName(output.url, values.output, i, outputs.length)
      const data = await client.download(output.url)
      await writeFile(target, data)
      err.write(`saved ${target} (${data.length} bytes)\n`)
    }
    return 0
  } catch (e) {
    if (e instanceof GatewayError || e instanceof UsageError) {
      err.write(`comfy-jobs: ${e.message}\n`)
      return e instanceof UsageError ? 2 : 3
    }
    throw e
  }
}
