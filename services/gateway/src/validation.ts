import Ajv from 'ajv'
import type { FastifySchemaCompiler } from 'fastify'

/**
 * Bodies are validated strictly (no type coercion, unknown fields rejected rather than dropped);
 * params and query strings arrive as text, so they are coerced.
 */
export function validatorCompiler (): FastifySchemaCompiler<any> {
  const base = { allErrors: false, useDefaults: true, removeAdditional: false, strict: false } as const
  const strict = new (Ajv as unknown as typeof Ajv.default)({ ...base, coerceTypes: false })
  const coercing = new (Ajv as unknown as typeof Ajv.default)({ ...base, coerceTypes: true })
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema)
}
