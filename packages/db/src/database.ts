import mysql from 'mysql2/promise'
import type { DatabaseLocation } from './database-url.ts'

/** Creates the database named in the location if it does not exist (utf8mb4). */
export async function ensureDatabase (loc: DatabaseLocation, connectTimeoutMs = 5000): Promise<void> {
  const conn = await mysql.createConnection({
    host: loc.host, port: loc.port, user: loc.user, password: loc.password, connectTimeout: connectTimeoutMs
  })
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${loc.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
  } finally {
    await conn.end()
  }
}

export async function dropDatabase (loc: DatabaseLocation): Promise<void> {
  const conn = await mysql.createConnection({ host: loc.host, port: loc.port, user: loc.user, password: loc.password })
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${loc.database}\``)
  } finally {
    await conn.end()
  }
}
