import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { LOADER_OPTIONS } from '@comfy-jobs/rpc'

const require = createRequire(import.meta.url)
export const REFLECTION_PROTO = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto')

function varint (n: number): Buffer {
  const bytes: number[] = []
  while (n > 0x7f) { bytes.push((n & 0x7f) | 0x80); n >>>= 7 }
  bytes.push(n)
  return Buffer.from(bytes)
}

/**
 * A server reflection client doing what grpcurl does: ask the server which services it has and for
 * the descriptors of a symbol, and build a working client from those alone, without any .proto file.
 */
export class ReflectionClient {
  readonly #client: grpc.Client & Record<string, any>

  constructor (address: string) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(REFLECTION_PROTO, LOADER_OPTIONS)) as any
    this.#client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure())
  }

  #ask (request: Record<string, unknown>): Promise<any> {
    return new Promise((resolve, reject) => {
      const call = this.#client.ServerReflectionInfo({ deadline: Date.now() + 5000 })
      call.on('data', (res: any) => { resolve(res); call.end() })
      call.on('error', reject)
      call.write(request)
    })
  }

  async listServices (): Promise<string[]> {
    const res = await this.#ask({ list_services: '*' })
    if (res.error_response) throw new Error(res.error_response.error_message)
    return res.list_services_response.service.map((s: { name: string }) => s.name)
  }

  /** The package definition of the file declaring `symbol` and its imports, as the server describes them. */
  async definitionOf (symbol: string): Promise<protoLoader.PackageDefinition> {
    const res = await this.#ask({ file_containing_symbol: symbol })
    if (res.error_response) throw new Error(res.error_response.error_message)
    const files = res.file_descriptor_response.file_descriptor_proto as Buffer[]
    // a FileDescriptorSet is field 1 (length-delimited) repeated: one entry per file
    const set = Buffer.concat(files.flatMap(f => [Buffer.from([0x0a]), varint(f.length), f]))
    return protoLoader.loadFileDescriptorSetFromBuffer(set, LOADER_OPTIONS)
  }

  close (): void {
    this.#client.close()
  }
}
