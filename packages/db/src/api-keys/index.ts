export * from './scopes.ts'
export * from './key-secret.ts'
export * from './api-key-store.ts'
