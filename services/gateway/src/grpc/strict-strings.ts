import { isUtf8 } from 'node:buffer'
import type * as grpc from '@grpc/grpc-js'

/** Set on a decoded request whose bytes held a string field that is not valid UTF-8: that field's name. */
export const ILL_FORMED_FIELD = Symbol('ill-formed string field')

interface FieldDescriptor { name: string, number: number, type: string }
type MethodWithTypes = grpc.MethodDefinition<unknown, unknown> & { requestType?: { type?: { field?: FieldDescriptor[] } } }

/**
 * The first top-level string field of a protobuf message whose bytes are not valid UTF-8 (e.g. a
 * lone surrogate as ED A0 80), or null. Node decodes such bytes to U+FFFD without a word, so the
 * check reads the wire format itself: tag varints, then each field by its wire type.
 */
export function invalidUtf8Field (buf: Buffer, stringFields: ReadonlyMap<number, string>): string | null {
  let at = 0
  const varint = (): number => {
    let value = 0
    for (let shift = 0; at < buf.length; shift += 7) {
      const byte = buf[at++]
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
    }
    return -1
  }
  while (at < buf.length) {
    const tag = varint()
    if (tag < 0) return null
    const field = Math.floor(tag / 8)
    switch (tag & 7) {
      case 0: if (varint() < 0) return null; break
      case 1: at += 8; break
      case 5: at += 4; break
      case 2: {
        const length = varint()
        if (length < 0 || at + length > buf.length) return null // malformed: the decoder says so
        const name = stringFields.get(field)
        if (name !== undefined && !isUtf8(buf.subarray(at, at + length))) return name
        at += length
        break
      }
      default: return null
    }
  }
  return null
}

/**
 * The service definition with each method's request decoder marking (ILL_FORMED_FIELD) a request
 * whose string field was not valid UTF-8, so the handler can refuse it naming the field instead of
 * running on replacement characters. Proto3 requires valid UTF-8 in strings.
 */
export function withStrictStrings (service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const strict: Record<string, grpc.MethodDefinition<unknown, unknown>> = {}
  for (const [name, method] of Object.entries(service as Record<string, MethodWithTypes>)) {
    const fields = new Map((method.requestType?.type?.field ?? []).filter(f => f.type === 'TYPE_STRING').map(f => [f.number, f.name] as const))
    if (fields.size === 0) { strict[name] = method; continue }
    const decode = method.requestDeserialize
    strict[name] = {
      ...method,
      requestDeserialize: (buf: Buffer) => {
        const request = decode(buf)
        const bad = invalidUtf8Field(buf, fields)
        if (bad !== null && request !== null && typeof request === 'object') Object.defineProperty(request, ILL_FORMED_FIELD, { value: bad })
        return request
      }
    }
  }
  return strict as grpc.ServiceDefinition
}
