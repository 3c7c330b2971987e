import fp from 'fastify-plugin'
import type { IncomingMessage, ServerResponse } from 'node:http'
import helmet, { type HelmetOptions } from 'helmet'

/**
 * Security headers on every answer, the page and the API alike (helmet): a CSP under which
 * the built-in page and /docs work (scripts, styles and connections to this origin only; images and
 * media also as data: and blob: URLs) and no other site may frame them, nosniff, no referrer to
 * other sites. Outputs may be embedded by the pages of CORS_ORIGINS only (Cross-Origin-Resource-Policy).
 * No HSTS and no upgrade-insecure-requests: TLS is the business of whatever terminates it.
 * Pages an operator serves with WEB_ROOT are not ours to rewrite: the original system's load their
 * scripts from CDNs and use inline scripts and onclick handlers, so under WEB_ROOT scripts, styles and
 * fonts may also come inline or over https. Connections and framing stay as strict.
 *
 * The headers depend on the configuration only, so helmet computes them once at start and every
 * answer gets that list (@fastify/helmet ran helmet, re-parsing the CSP, on every request: a tenth
 * of a status read's CPU).
 */
export default fp(async (app) => {
  const operatorPages = app.config.webRoot !== null
  const orInlineAndHttps = (sources: string[]) => operatorPages ? [...new Set([...sources, "'unsafe-inline'", 'https:'])] : sources
  const headers = helmetHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        scriptSrc: orInlineAndHttps(["'self'"]),
        scriptSrcAttr: [operatorPages ? "'unsafe-inline'" : "'none'"],
        styleSrc: orInlineAndHttps(["'self'", "'unsafe-inline'"]),
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: orInlineAndHttps(["'self'", 'data:']),
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    frameguard: { action: 'deny' },
    hsts: false,
    referrerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: app.config.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' }
  })
  app.addHook('onRequest', (_request, reply, done) => {
    const res = reply.raw
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i][0], headers[i][1])
    done()
  })
}, { name: 'security-headers', dependencies: ['config'] })

/** The headers helmet sets with these options, as [name, value] pairs. */
function helmetHeaders (options: HelmetOptions): Array<[string, string]> {
  const set: Array<[string, string]> = []
  const recorder = {
    setHeader (name: string, value: string) { set.push([name, value]) },
    removeHeader () {}
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => { if (err) throw err })
  return set
}
