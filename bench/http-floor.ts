// The HTTP floor: a bare Fastify route answering a constant, in its own process like the gateway.
//   node bench/http-floor.ts <port>   (prints "listening" when ready)
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

// fastify is the gateway's dependency; load that very copy
const gatewayRequire = createRequire(new URL('../services/gateway/package.json', import.meta.url))
const { default: Fastify } = await import(pathToFileURL(gatewayRequire.resolve('fastify')).href)

const app = Fastify({ logger: false })
const body = { job_id: '00000000-0000-7000-8000-000000000000', status: 'queued', progress: 0 }
app.get('/api/status/:job_id', async () => body)
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' })
console.log('listening')
