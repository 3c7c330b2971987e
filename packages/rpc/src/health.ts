import * as grpc from '@grpc/grpc-js'
import { HealthImplementation, service as healthServiceDefinition } from 'grpc-health-check'

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN'

/** Adds the standard grpc.health.v1 service to a server; returns the handle to set statuses. */
export function addHealthService (server: grpc.Server, statuses: Record<string, ServingStatus>): HealthImplementation {
  const health = new HealthImplementation(statuses)
  health.addToServer(server)
  return health
}

export { healthServiceDefinition }

/** Calls grpc.health.v1.Health/Check; resolves with the status name. */
export function checkHealth (address: string, service = '', deadlineMs = 1000, credentials = grpc.credentials.createInsecure()): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'Health')
  const client = new Client(address, credentials) as any
  return new Promise((resolve, reject) => {
    client.Check({ service }, { deadline: Date.now() + deadlineMs }, (err: Error | null, res: { status: string | number }) => {
      client.close()
      if (err) reject(err)
      else resolve(String(res.status))
    })
  })
}
