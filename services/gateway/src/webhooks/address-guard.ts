import { lookup } from 'node:dns/promises'
import type { LookupAddress } from 'node:dns'
import { BlockList, isIP } from 'node:net'

/** Where a webhook must never go (SSRF): loopback, private, link-local, cloud metadata, and the like. */
const FORBIDDEN = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) FORBIDDEN.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32], ['fd00:ec2::', 32]
] as const) FORBIDDEN.addSubnet(net, bits, 'ipv6')

/** True for an address a webhook may not reach (IPv4-mapped IPv6 is judged as its IPv4). */
export function isForbiddenAddress (address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return FORBIDDEN.check(mapped[1], 'ipv4')
  const family = isIP(address)
  if (family === 0) return true
  return FORBIDDEN.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export class ForbiddenAddressError extends Error {
  constructor (readonly host: string, readonly address: string) {
    super(`${host} resolves to ${address}, a loopback, private, link-local or metadata address`)
    this.name = 'ForbiddenAddressError'
  }
}

/** A host's addresses, each checked; throws ForbiddenAddressError (or the DNS error). */
export async function resolveAllowed (host: string, allowPrivate: boolean): Promise<LookupAddress[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1')
  const addresses = isIP(bare) !== 0 ? [{ address: bare, family: isIP(bare) }] : await lookup(bare, { all: true, verbatim: true })
  if (!allowPrivate) for (const a of addresses) if (isForbiddenAddress(a.address)) throw new ForbiddenAddressError(host, a.address)
  return addresses
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/**
 * A `lookup` for http.request that refuses forbidden addresses when the connection is made, so a name
 * that resolved to a public address at submit and to a private one now (DNS rebinding) is not reached:
 * the address checked is the address connected to.
 */
export function guardedLookup (allowPrivate: boolean) {
  return (host: string, options: { all?: boolean }, callback: LookupCallback): void => {
    resolveAllowed(host, allowPrivate).then(
      addresses => options.all ? callback(null, addresses) : callback(null, addresses[0].address, addresses[0].family),
      err => callback(err as NodeJS.ErrnoException, '', 0)
    )
  }
}
