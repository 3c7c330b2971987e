export interface DatabaseLocation {
  host: string
  port: number
  user: string
  password: string
  database: string
}

/** Parses a `mysql://user:pass@host:port/db` URL; throws with a message naming DATABASE_URL. */
export function parseDatabaseUrl (url: string): DatabaseLocation {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new Error(`DATABASE_URL is not a valid URL: ${JSON.stringify(url)}`)
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new Error(`DATABASE_URL must start with mysql:// or mariadb:// (got ${u.protocol}//)`)
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) {
    throw new Error(`DATABASE_URL must name a database of letters, digits and _ (got ${JSON.stringify(database)})`)
  }
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database
  }
}

export function formatDatabaseUrl (loc: DatabaseLocation): string {
  const auth = loc.password ? `${encodeURIComponent(loc.user)}:${encodeURIComponent(loc.password)}` : encodeURIComponent(loc.user)
  return `mysql://${auth}@${loc.host}:${loc.port}/${loc.database}`
}
