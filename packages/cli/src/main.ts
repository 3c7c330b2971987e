import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { GatewayClient, GatewayError, type JobUpdate } from './gateway-client.ts'
import { ProgressBar } from './progress-bar.ts'

const USAGE = `Usage: comfy-jobs generate "<prompt>" [options]

Submits an image generation job to a comfy-jobs gateway.

Options:
  --wait                 follow the job's live progress until it ends
  -o, --output <file>    save the (first) image there (implies --wait)
  --url <url>            gateway base URL (default http://127.0.0.1:5000)
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

/** Runs the CLI with these arguments; returns the exit status. */
export async function main (argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
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
  if (command !== 'generate' || rest.length !== 1 || !rest[0].trim()) {
    err.write(`comfy-jobs: expected: generate "<prompt>"\n\n${USAGE}\n`)
    return 2
  }
  let body: Record<string, unknown>
  try {
    body = {
      prompt: rest[0],
      ...(values['aspect-ratio'] ? { aspect_ratio: values['aspect-ratio'] } : {}),
      ...(values.seed !== undefined ? { seed: integer('seed', values.seed) } : {}),
      ...(values.model ? { model: values.model } : {}),
      ...(values.workflow ? { workflow: values.workflow } : {}),
      ...(values['batch-size'] !== undefined ? { batch_size: integer('batch-size', values['batch-size']) } : {})
    }
  } catch (e) {
    err.write(`comfy-jobs: ${(e as Error).message}\n`)
    return 2
  }

  const client = new GatewayClient(values.url)
  try {
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
    const imageUrl = last.image_url
    if (!imageUrl) {
      err.write(`comfy-jobs: job ${jobId} finished without an image\n`)
      return 1
    }
    const target = values.output ?? `${jobId}.png`
    const image = await client.download(imageUrl)
    await writeFile(target, image)
    err.write(`saved ${target} (${image.length} bytes)\n`)
    return 0
  } catch (e) {
    if (e instanceof GatewayError) {
      err.write(`comfy-jobs: ${e.message}\n`)
      return 3
    }
    throw e
  }
}
