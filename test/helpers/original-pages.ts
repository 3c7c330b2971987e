// The original system's web pages (../shared/original-frontend, unmodified) in a browser, served by a
// gateway with WEB_ROOT. Their config.js calls the API by relative paths only when the page's origin
// is localhost on port 5000 (else http://localhost:5000), so the browser opens them at
// http://localhost:5000 and Chromium's host rules send that origin's connections to the test
// gateway's port: the pages run exactly as their users have them, on any free port. Their two CDN
// scripts are answered from the npm packages that ship the same files; every other outside host
// (fonts, background textures, avatars) is aborted: the pages work without them.
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import type { Page, Route } from 'playwright-core'
import { REPO_ROOT } from './worker-process.ts'

export const ORIGINAL_FRONTEND_DIR = resolve(REPO_ROOT, process.env.ORIGINAL_FRONTEND_DIR ?? '../shared/original-frontend')

/** The origin the pages are opened at: where config.js makes them use relative API paths. */
export const ORIGINAL_ORIGIN = 'http://localhost:5000'

const require = createRequire(import.meta.url)
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`))

/** The pages' external scripts, answered from npm packages (see the folder's README). */
const CDN_SCRIPTS: Record<string, string> = {
  'https://cdn.tailwindcss.com/': join(packageDir('tailwindcss-cdn'), 'tailwindcss.js'),
  'https://unpkg.com/lucide@latest': join(packageDir('lucide'), 'dist', 'umd', 'lucide.min.js')
}

/**
 * Chromium switches: the pages' origin (localhost:5000) goes to the gateway's real port, and every other
 * host fails to resolve (outside hosts are aborted by the browser itself, so no request needs a route
 * once the CDN scripts are in).
 */
export function originToGateway (gatewayPort: number): string[] {
  // one list: the first rule that matches a host decides
  return [`--host-resolver-rules=MAP localhost:5000 127.0.0.1:${gatewayPort}, MAP * ~NOTFOUND`]
}

/**
 * Answers the CDN scripts from their packages while `load` runs (the page's first load), then routes
 * nothing: a routed browser hands every request, bodies of several MB included, through the test
 * process. Outside requests fail to resolve (originToGateway); `aborted` lists every one.
 */
export async function withCdnScripts (page: Page, aborted: string[], load: () => Promise<unknown>): Promise<void> {
  page.on('requestfailed', req => { if (!req.url().startsWith(`${ORIGINAL_ORIGIN}/`) && !/^(data|blob):/.test(req.url())) aborted.push(req.url()) })
  const handler = async (route: Route) => {
    const script = CDN_SCRIPTS[route.request().url()]
    if (script !== undefined) return route.fulfill({ path: script, contentType: 'text/javascript; charset=utf-8' })
    return route.abort('blockedbyclient')
  }
  const outside = (url: URL) => !url.href.startsWith(`${ORIGINAL_ORIGIN}/`) && !/^(data|blob):/.test(url.protocol)
  await page.route(outside, handler)
  try {
    await load()
  } finally {
    await page.unroute(outside, handler)
  }
}
