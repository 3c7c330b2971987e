// The DMMF (Prisma's parsed data model) of a schema string, straight from Prisma's own schema parser,
// without the network and without new dependencies: the prisma CLI that packages/db already has
// ships the WASM build of prisma-schema-wasm (build/prisma_schema_build_bg.wasm) and calls its
// `get_dmmf` export for `prisma generate`. We load that file and call `get_dmmf` the same way the
// CLI's wasm-bindgen glue does (string in through __wbindgen_malloc, string out, errors as an
// externref). Import names carry a build hash, so they are matched by prefix.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface DmmfField {
  name: string
  dbName?: string | null
  kind: 'scalar' | 'object' | 'enum' | 'unsupported'
  isList: boolean
  isRequired: boolean
  isUnique: boolean
  isId: boolean
  isUpdatedAt: boolean
  hasDefaultValue: boolean
  type: string
  /** e.g. ['VarChar', ['36']], ['UnsignedTinyInt', []]; null when the field has no @db attribute */
  nativeType?: [string, string[]] | null
  default?: unknown
  relationName?: string
  relationFromFields?: string[]
  relationToFields?: string[]
  relationOnDelete?: string
  relationOnUpdate?: string
}

export interface DmmfModel {
  name: string
  dbName: string | null
  fields: DmmfField[]
  primaryKey: { name: string | null, fields: string[] } | null
}

export interface DmmfEnum {
  name: string
  dbName?: string | null
  values: Array<{ name: string, dbName: string | null }>
}

export interface DmmfIndex {
  model: string
  type: 'id' | 'normal' | 'unique' | 'fulltext'
  isDefinedOnField: boolean
  /** the client-side name (`name:`), if any */
  name?: string
  /** the database name (`map:`), if any; otherwise Prisma's naming convention applies */
  dbName?: string
  fields: Array<{ name: string, sortOrder?: 'asc' | 'desc', length?: number }>
}

export interface Dmmf {
  datamodel: {
    enums: DmmfEnum[]
    models: DmmfModel[]
    indexes: DmmfIndex[]
  }
}

const PACKAGE_JSON_OF_DB = fileURLToPath(new URL('../../packages/db/package.json', import.meta.url))

/** The prisma-schema-wasm binary inside the prisma CLI that @comfy-jobs/db depends on. */
export function schemaWasmPath (): string {
  const require = createRequire(PACKAGE_JSON_OF_DB)
  let cli: string
  try {
    cli = dirname(require.resolve('prisma/package.json'))
  } catch (err) {
    throw new Error(`the prisma CLI is not installed for packages/db (run pnpm install): ${(err as Error).message}`)
  }
  return join(cli, 'build', 'prisma_schema_build_bg.wasm')
}

interface SchemaWasm {
  memory: WebAssembly.Memory
  __wbindgen_externrefs: WebAssembly.Table
  __wbindgen_malloc: (size: number, align: number) => number
  __wbindgen_free: (ptr: number, size: number, align: number) => void
  __externref_table_dealloc: (idx: number) => void
  __wbindgen_start: () => void
  get_dmmf: (ptr: number, len: number) => [number, number, number, number]
}

let wasm: SchemaWasm | undefined
let panicMessage: string | undefined

function instance (): SchemaWasm {
  if (wasm) return wasm
  const path = schemaWasmPath()
  let bytes: Uint8Array<ArrayBuffer>
  try {
    bytes = new Uint8Array(readFileSync(path))
  } catch (err) {
    throw new Error(`cannot read Prisma's schema WASM at ${path}: ${(err as Error).message}`)
  }
  const module = new WebAssembly.Module(bytes)
  const exports = (): SchemaWasm => {
    if (!wasm) throw new Error('prisma schema wasm is not initialised')
    return wasm
  }
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true })
  const text = (ptr: number, len: number): string =>
    decoder.decode(new Uint8Array(exports().memory.buffer, ptr >>> 0, len))
  const glue: Record<string, (...args: number[]) => unknown> = {}
  for (const imp of WebAssembly.Module.imports(module)) {
    const n = imp.name
    if (n.startsWith('__wbg_set_message_')) glue[n] = (p, l) => { panicMessage = text(p, l) }
    else if (n.startsWith('__wbg_Error_')) glue[n] = (p, l) => new Error(text(p, l))
    else if (n.startsWith('__wbg___wbindgen_throw_')) glue[n] = (p, l) => { throw new Error(text(p, l)) }
    else if (n === '__wbindgen_init_externref_table') {
      glue[n] = () => {
        const table = exports().__wbindgen_externrefs
        const offset = table.grow(4)
        table.set(0, undefined)
        table.set(offset + 0, undefined)
        table.set(offset + 1, null)
        table.set(offset + 2, true)
        table.set(offset + 3, false)
      }
    } else {
      glue[n] = () => { throw new Error(`prisma schema wasm calls ${imp.module}.${n}, which this loader does not provide`) }
    }
  }
  const inst = new WebAssembly.Instance(module, { __wbindgen_placeholder__: glue })
  wasm = inst.exports as unknown as SchemaWasm
  wasm.__wbindgen_start()
  return wasm
}

/**
 * Prisma's DMMF of a schema, exactly as `prisma generate` sees it. A schema that does not validate
 * throws with Prisma's own error text.
 */
export function getDmmf (schema: string): Dmmf {
  const w = instance()
  const input = new TextEncoder().encode(JSON.stringify({ prismaSchema: schema, noColor: true }))
  const ptr = w.__wbindgen_malloc(input.length, 1) >>> 0
  new Uint8Array(w.memory.buffer, ptr, input.length).set(input)
  let result: [number, number, number, number]
  try {
    result = w.get_dmmf(ptr, input.length)
  } catch (err) {
    // a Rust panic surfaces as a WebAssembly RuntimeError; the panic hook left its message
    throw new Error(`prisma schema wasm panicked: ${panicMessage ?? (err as Error).message}`)
  }
  const [outPtr, outLen, errIdx, isErr] = result
  if (isErr) {
    const err = w.__wbindgen_externrefs.get(errIdx) as Error
    w.__externref_table_dealloc(errIdx)
    let message = err?.message ?? String(err)
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message
    } catch {}
    throw new Error(`schema.prisma does not validate:\n${message}`)
  }
  try {
    return JSON.parse(new TextDecoder().decode(new Uint8Array(w.memory.buffer, outPtr >>> 0, outLen))) as Dmmf
  } finally {
    w.__wbindgen_free(outPtr, outLen, 1)
  }
}
