import type * as grpc from '@grpc/grpc-js'
import type { PackageDefinition } from '@grpc/proto-loader'
import { ReflectionService } from '@grpc/reflection'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import { fileDescriptorProtos, type ProtoFile } from './file-descriptors.ts'

/** The standard health service's file, under the name every other implementation gives it. */
export const HEALTH_PROTO_FILE: ProtoFile = { path: healthProtoPath, name: 'grpc/health/v1/health.proto' }

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing the given .proto files and the standard
 * health service, so tools such as grpcurl work without the .proto files. The descriptors are built
 * as protoc builds them (see fileDescriptorProtos), not taken from @grpc/proto-loader.
 */
export function addReflectionService (server: grpc.Server, files: ProtoFile[]): void {
  const described = { files: { fileDescriptorProtos: fileDescriptorProtos([...files, HEALTH_PROTO_FILE]) } }
  new ReflectionService(described as unknown as PackageDefinition).addToServer(server)
}
