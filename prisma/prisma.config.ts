import { defineConfig } from 'prisma/config'

// Used by the Prisma CLI (generate; migrate deploy on a networked machine). At run time the services
// connect through @prisma/adapter-mariadb (packages/db) and apply migrations with the project's runner.
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/comfy_jobs' }
})
