import type * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import { LOADER_OPTIONS } from './load.ts'

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing the given services and the standard health
 * service, so tools such as grpcurl work without the .proto files.
 */
export function addReflectionService (server: grpc.Server, definitions: protoLoader.PackageDefinition[]): void {
  const health = protoLoader.loadSync(healthProtoPath, LOADER_OPTIONS)
  const merged = Object.assign({}, health, ...definitions) as protoLoader.PackageDefinition
  new ReflectionService(merged).addToServer(server)
}
