// Config is read once at start; a bad value stops start-up with a message naming the variable.
import t from 'tap'
import { ServiceProcess } from './helpers/service-process.ts'

const BAD: Array<[string, string]> = [
  ['PORT', 'eighty'],
  ['DATABASE_URL', 'postgres://x@localhost/db'],
  ['REDIS_URL', 'not a url'],
  ['JOB_STATUS_TTL_SECONDS', '-5'],
  ['WORKER_ADDRESSES', 'nohostport'],
  ['LOG_LEVEL', 'loud'],
  ['GATEWAY_GRPC_PORT', '70000'],
  ['GATEWAY_GRPC_HOST', 'not a host!'],
  ['SESSION_TTL_SECONDS', '5'],
  ['PASSWORD_SCRYPT_LOG_N', '8'],
  ['TRUST_PROXY', '10.0.0.0/99']
]

for (const [name, value] of BAD) {
  t.test(`gateway refuses ${name}=${value}`, async t => {
    const gw = new ServiceProcess('gateway', { [name]: value, PORT: name === 'PORT' ? value : '1' })
    const code = await gw.exited
    t.not(code, 0, 'exits non-zero')
    t.match(gw.raw.join('\n'), new RegExp(name), 'the message names the variable')
  })
}
