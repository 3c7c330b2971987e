import Ajv, { type ValidateFunction } from 'ajv'
import type { FastifySchemaCompiler } from 'fastify'
import type { TSchema, Static } from 'typebox'

function newAjv (coerceTypes: boolean) {
  return new (Ajv as unknown as typeof Ajv.default)({ allErrors: false, useDefaults: true, removeAdditional: false, strict: false, coerceTypes })
}

/**
 * The rules every transport applies to a request body (REST JSON, gRPC messages): no type coercion,
 * unknown fields rejected rather than dropped, defaults filled in.
 */
export function compileBodyValidator<S extends TSchema> (schema: S): ValidateFunction<Static<S>> {
  return newAjv(false).compile<Static<S>>(schema)
}

/** Bodies are validated as above; params and query strings arrive as text, so they are coerced. */
export function validatorCompiler (): FastifySchemaCompiler<any> {
  const strict = newAjv(false)
  const coercing = newAjv(true)
  return ({ schema, httpPart }) => (httpPart === 'body' ? strict : coercing).compile(schema)
}
