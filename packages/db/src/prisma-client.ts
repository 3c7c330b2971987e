import { createPool } from 'mariadb'
import { PrismaMariaDb } from '@prisma/adapter-mariadb'
import { PrismaClient } from './generated/prisma/client.ts'
import type { DatabaseLocation } from './database-url.ts'
import type { PoolObserver } from './pool-observer.ts'

export interface PrismaClientOptions {
  /** connections in the driver's pool */
  poolSize?: number
  /** ms to wait for a free connection before the pool gives up */
  acquireTimeoutMs?: number
  /** ms to establish a TCP connection */
  connectTimeoutMs?: number
  /** told when the pool fails to open a connection (the database is away); it retries by itself */
  onPoolError?: (err: Error) => void
  /** watches the pool (liveness, which connection a transaction took); see PoolObserver */
  observer?: PoolObserver
}

const DEFAULT_POOL_SIZE = 10

/** A Prisma Client over the MariaDB driver adapter; the caller owns it and must `$disconnect()`. */
export function createPrismaClient (loc: DatabaseLocation, opts: PrismaClientOptions = {}): PrismaClient {
  const pool = createPool({
    host: loc.host,
    port: loc.port,
    user: loc.user,
    password: loc.password,
    database: loc.database,
    connectionLimit: opts.poolSize ?? DEFAULT_POOL_SIZE,
    acquireTimeout: opts.acquireTimeoutMs ?? 2000,
    connectTimeout: opts.connectTimeoutMs ?? 2000
    // No `timezone` (nor initSql): the adapter writes and reads DATETIME in UTC itself and Prisma fills
    // now() defaults, so no session setup is needed, and a setup query is a hazard: mariadb 3.4 leaves
    // the rejection of a failed one unhandled, which closed the gateway when the link died mid-setup
    // (test/outage.test.ts, "connections dying at any byte").
  })
  // The pool reports a failed connection attempt as an 'error' event; unheard, that event would take
  // the whole process down while the database is merely away.
  ;(pool as unknown as NodeJS.EventEmitter).on('error', (err: Error) => opts.onPoolError?.(err))
  // Text protocol: the binary one prepares each statement first (an extra round trip per new
  // statement per connection) and Prisma's parameterised SQL gains nothing from it here.
  const observed = opts.observer?.attach(pool, opts.poolSize ?? DEFAULT_POOL_SIZE) ?? pool
  return new PrismaClient({ adapter: new PrismaMariaDb(observed, { disposeExternalPool: true, useTextProtocol: true }) })
}

export type { PrismaClient }
export { Prisma } from './generated/prisma/client.ts'
export type { Job, Output } from './generated/prisma/client.ts'
