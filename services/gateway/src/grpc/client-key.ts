import type * as grpc from '@grpc/grpc-js'

/**
 * What names a gRPC caller for its limits: its address without the port (`ipv4:10.0.0.5:53122` →
 * `10.0.0.5`), as REST's limiter uses the client's IP; a caller with an API key is counted by the key.
 */
export function clientKeyOf (call: grpc.ServerUnaryCall<any, any>): string {
  const peer = call.getPeer()
  const address = peer.replace(/^(ipv4|ipv6|unix):/, '')
  const host = address.startsWith('[') ? address.slice(0, address.indexOf(']') + 1) : address.replace(/:\d+$/, '')
  return host || peer
}
