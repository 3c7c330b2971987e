import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaClient } from './generated/prisma/client.ts'
import type { DatabaseLocation } from './database-url.ts'

export interface PrismaClientOptions {
  /** connections in the driver's pool */
  poolSize?: number
  /** ms to wait for a free connection before the pool gives up */
  acquireTimeoutMs?: number
  /** ms to establish a TCP connection */
  connectTimeoutMs?: number
}

/** A Prisma Client over the MariaDB driver adapter; the caller owns it and must `$disconnect()`. */
export function createPrismaClient (loc: DatabaseLocation, opts: PrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaMariaDb({
    host: loc.host,
    port: loc.port,
    user: loc.user,
    password: loc.password,
    database: loc.database,
    connectionLimit: opts.poolSize ?? 10,
    acquireTimeout: opts.acquireTimeoutMs ?? 2000,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    // Job rows are written in UTC; DATETIME(3) has no zone.
    timezone: 'Z'
  })
  return new PrismaClient({ adapter })
}

export type { PrismaClient }
export { Prisma } from './generated/prisma/client.ts'
export type { Job, Output } from './generated/prisma/client.ts'
