import protobuf from 'protobufjs'
import descriptor from 'protobufjs/ext/descriptor/index.js'

/** A .proto file to describe: where it is, and its name as importers write it (`comfyjobs/jobs/v1/jobs.proto`). */
export interface ProtoFile {
  path: string
  name: string
}

type Declaration = protobuf.Type | protobuf.Enum | protobuf.Service
type DescriptorProto = { name: string, field: FieldProto[], nestedType: DescriptorProto[], options?: { mapEntry?: boolean } }
type FieldProto = { name: string, typeName?: string, jsonName?: string, proto3Optional?: boolean }

interface FileProto {
  name: string
  package: string
  dependency: string[]
  messageType: DescriptorProto[]
  enumType: unknown[]
  service: unknown[]
  syntax: string
}

/** The entry message protoc names for a map field: `statuses` → `StatusesEntry`, `foo_bar` → `FooBarEntry`. */
function mapEntryName (field: string): string {
  return `${field.split('_').map(part => part.charAt(0).toUpperCase() + part.slice(1)).join('')}Entry`
}

/** protoc's json_name: `total_steps` → `totalSteps`. */
function jsonName (field: string): string {
  return field.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

/** The well-known file protobufjs took a `google.protobuf` type from (it ships them as JSON, without a file name). */
function commonFileOf (type: Declaration): string | null {
  const common = protobuf.common as unknown as Record<string, { nested?: any }>
  for (const [file, json] of Object.entries(common)) {
    if (file.endsWith('.proto') && json?.nested?.google?.nested?.protobuf?.nested?.[type.name] !== undefined) return file
  }
  return null
}

/**
 * FileDescriptorProtos as protoc writes them, for server reflection: one per .proto file, named by
 * its import path, declaring its imports, with fully qualified type names and map entries named
 * `<Field>Entry`. protobufjs's own toDescriptor (which @grpc/proto-loader hands to reflection) writes
 * one file per package named after the package, without dependencies, with relative type names and
 * map entries protoc would refuse — descriptors that standard tools (grpcurl, Python, Go) reject.
 */
export function fileDescriptorProtos (files: ProtoFile[]): Buffer[] {
  const root = new protobuf.Root()
  root.loadSync(files.map(f => f.path), { keepCase: true })
  root.resolveAll()
  const nameOf = new Map(files.map(f => [f.path, f.name]))
  const fileOf = (d: Declaration): string => {
    const name = d.filename !== null ? nameOf.get(d.filename) ?? d.filename : commonFileOf(d)
    if (name === null) throw new Error(`no file declares ${d.fullName}`)
    return name
  }
  const protos = new Map<string, FileProto>()
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (!(nested instanceof protobuf.Type || nested instanceof protobuf.Enum || nested instanceof protobuf.Service)) {
        if (nested instanceof protobuf.Namespace) visit(nested)
        continue
      }
      const name = fileOf(nested)
      let file = protos.get(name)
      if (file === undefined) {
        file = { name, package: ns.fullName.slice(1), dependency: [], messageType: [], enumType: [], service: [], syntax: 'proto3' }
        protos.set(name, file)
      }
      const own = file
      const uses = (d: Declaration | null): void => {
        const other = d === null ? name : fileOf(d)
        if (other !== name && !own.dependency.includes(other)) own.dependency.push(other)
      }
      if (nested instanceof protobuf.Type) file.messageType.push(qualify(nested, (nested as any).toDescriptor('proto3'), uses))
      else if (nested instanceof protobuf.Enum) file.enumType.push((nested as any).toDescriptor())
      else {
        for (const method of nested.methodsArray) {
          uses(method.resolvedRequestType)
          uses(method.resolvedResponseType)
        }
        file.service.push((nested as any).toDescriptor())
      }
    }
  }
  visit(root)
  return files.map(f => f.name).concat([...protos.keys()].filter(n => !files.some(f => f.name === n)))
    .map(name => Buffer.from(descriptor.FileDescriptorProto.encode(protos.get(name)! as any).finish()))
}

/** Fully qualified type names and protoc's map entries in a message's descriptor, and the files it uses. */
function qualify (type: protobuf.Type, proto: DescriptorProto, uses: (d: Declaration | null) => void): DescriptorProto {
  type.fieldsArray.forEach((field, i) => {
    const fieldProto = proto.field[i]
    const resolved = field.resolvedType as Declaration | null
    fieldProto.jsonName = jsonName(field.name)
    // protobufjs writes `proto3_optional`, which its own encoder does not know (it is `proto3Optional`)
    if (field.options?.proto3_optional === true) fieldProto.proto3Optional = true
    if (field.map) {
      const entry = proto.nestedType.find(n => n.options?.mapEntry === true && n.name === fieldProto.typeName)!
      entry.name = mapEntryName(field.name)
      for (const part of entry.field) part.jsonName = part.name
      fieldProto.typeName = `${type.fullName}.${entry.name}`
      if (resolved !== null) entry.field[1].typeName = resolved.fullName
    } else if (resolved !== null) {
      fieldProto.typeName = resolved.fullName
    }
    uses(resolved)
  })
  for (const nested of type.nestedArray) {
    if (nested instanceof protobuf.Type) qualify(nested, proto.nestedType.find(n => n.name === nested.name)!, uses)
  }
  return proto
}
