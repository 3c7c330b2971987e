import { runCli } from './cli-process.ts'
import type { TestSystem } from './system.ts'

/** The first admin key of a system with AUTH=required, made on its database by the CLI (no key exists yet to ask the API with). */
export async function bootstrapAdminKey (sys: TestSystem): Promise<string> {
  const made = await runCli(['keys', 'create', '--owner', 'root', '--scopes', 'admin', '--name', 'bootstrap', '--json'], { timeoutMs: 60_000, env: { DATABASE_URL: sys.db.url } })
  if (made.code !== 0) throw new Error(`keys create failed: ${made.stderr}`)
  return JSON.parse(made.stdout).secret
}

/** A key of `owner` with `scopes`, made through the admin REST route; its secret. */
export async function createKey (sys: TestSystem, admin: string, owner: string, scopes: string[]): Promise<string> {
  const res = await fetch(`${sys.baseUrl}/api/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ owner, name: owner, scopes })
  })
  const body = await res.json() as any
  if (res.status !== 201) throw new Error(`key not created: ${res.status} ${JSON.stringify(body)}`)
  return body.secret
}
