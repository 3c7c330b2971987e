export * from './database-url.ts'
export * from './database.ts'
export * from './migrations.ts'
export * from './prisma-client.ts'
