import { fileURLToPath } from 'node:url'
import * as protoLoader from '@grpc/proto-loader'

export const PROTO_ROOT = fileURLToPath(new URL('../../../proto', import.meta.url))

/** The one set of loader options: keep field names as in the .proto, longs and enums as JS values. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT]
}

export function loadDefinition (protoFile: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(protoFile, LOADER_OPTIONS)
}
