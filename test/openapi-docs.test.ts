// The API documentation groups routes by resource, and every route has a summary and a real example
// that matches its own schema (so the examples cannot drift from what the gateway answers).
import t from 'tap'
import Ajv from 'ajv'
import { TestSystem } from './helpers/system.ts'
import { ROUTE_DOCS, TAGS } from '../services/gateway/src/openapi/route-docs.ts'

t.test('every route is grouped by resource, with a summary and an example matching its schema', async t => {
  const sys = await TestSystem.start(t, { name: 'apidocs', workers: 0 })
  const doc = await (await fetch(`${sys.baseUrl}/openapi.json`)).json() as any
  t.same(doc.tags.map((tag: any) => tag.name), TAGS.map(tag => tag.name), 'the document names the resource groups')
  // as the gateway validates: absent fields with a default take it
  const ajv = new (Ajv as unknown as typeof Ajv.default)({ strict: false, allErrors: true, validateFormats: false, useDefaults: true })
  const seen = new Set<string>()
  for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
    for (const [method, op] of Object.entries(methods)) {
      const key = `${method.toUpperCase()} ${path}`
      seen.add(key)
      t.ok(ROUTE_DOCS[key], `${key} is in the route catalogue (services/gateway/src/openapi/route-docs.ts)`)
      t.ok(op.tags?.length === 1 && TAGS.some(tag => tag.name === op.tags[0]), `${key}: in one resource group (${op.tags})`)
      t.ok(typeof op.summary === 'string' && op.summary.length > 10, `${key}: a summary`)
      const examples: Array<{ where: string, example: unknown, schema: unknown, type: string }> = []
      const request = op.requestBody?.content?.['application/json']
      if (request?.example !== undefined) examples.push({ where: 'request', example: request.example, schema: request.schema, type: 'application/json' })
      for (const [code, response] of Object.entries(op.responses ?? {}) as Array<[string, any]>) {
        for (const [type, content] of Object.entries(response.content ?? {}) as Array<[string, any]>) {
          if (content.example !== undefined) examples.push({ where: `${code} ${type}`, example: content.example, schema: content.schema, type })
        }
      }
      t.ok(examples.some(e => e.where !== 'request'), `${key}: an example answer`)
      for (const { where, example, schema, type } of examples) {
        if (type !== 'application/json' || schema === undefined) continue
        const validate = ajv.compile(schema as object)
        t.ok(validate(structuredClone(example)), `${key} ${where}: the example matches the schema`, { errors: validate.errors })
      }
    }
  }
  for (const key of Object.keys(ROUTE_DOCS)) t.ok(seen.has(key), `${key} (catalogued) is a route of the document`)
  const generate = doc.paths['/api/generate'].post
  t.match(generate.requestBody.content['application/json'].example, { prompt: 'a red cat' }, 'the submit shows a request example')
})
