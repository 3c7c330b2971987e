export * from './load.ts'
export * from './worker-service.ts'
export * from './health.ts'
