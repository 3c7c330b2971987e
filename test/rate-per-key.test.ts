// With API keys, the submit rate is each key's own (REST and gRPC alike): one client that spends its
// budget does not spend another's, though both come from the same address.
import t from 'tap'
import * as grpc from '@grpc/grpc-js'
import { createJobServiceClient } from '@comfy-jobs/rpc'
import { TestSystem } from './helpers/system.ts'
import { bootstrapAdminKey, createKey as createApiKey } from './helpers/api-keys.ts'

const sys = await TestSystem.start(t, {
  name: 'rate_per_key',
  gatewayEnv: { AUTH: 'required', SUBMIT_RATE_LIMIT_PER_MINUTE: '2' }
})

const ADMIN = await bootstrapAdminKey(sys)
const createKey = (owner: string): Promise<string> => createApiKey(sys, ADMIN, owner, ['submit', 'read'])

const submitRest = async (key: string, prompt: string): Promise<{ status: number, code?: string }> => {
  const res = await fetch(`${sys.baseUrl}/api/generate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt })
  })
  return { status: res.status, code: (await res.json() as any).code }
}

t.test('REST: each key has its own budget', async t => {
  const [carol, dave] = [await createKey('carol'), await createKey('dave')]
  t.same([(await submitRest(carol, 'c1')).status, (await submitRest(carol, 'c2')).status], [200, 200], 'carol: two submits')
  t.match(await submitRest(carol, 'c3'), { status: 429, code: 'RATE_LIMITED' }, 'carol: the third is refused')
  t.equal((await submitRest(dave, 'd1')).status, 200, 'dave, from the same address, is not limited by carol')
})

t.test('gRPC: each key has its own budget', async t => {
  const [erin, frank] = [await createKey('erin'), await createKey('frank')]
  const client = createJobServiceClient(sys.grpcAddress)
  t.teardown(() => client.close())
  const submit = (key: string, prompt: string) => new Promise<grpc.ServiceError | null>(resolve => {
    const md = new grpc.Metadata()
    md.set('authorization', `Bearer ${key}`)
    const call = (client as any).Submit.bind(client) as (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void
    call({ prompt }, md, err => resolve(err))
  })
  t.same([await submit(erin, 'e1'), await submit(erin, 'e2')], [null, null], 'erin: two submits')
  const third = await submit(erin, 'e3')
  t.equal(third?.code, grpc.status.RESOURCE_EXHAUSTED, 'erin: the third is refused')
  t.equal(third?.metadata.get('app-error-code')[0], 'RATE_LIMITED')
  t.equal(await submit(frank, 'f1'), null, 'frank, from the same address, is not limited by erin')
})
