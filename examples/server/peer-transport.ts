/**
 * Picks the peer transport from the scheme of this node's peer URL: `http://` and `https://` use
 * the HTTP transport, `tcp://` and `tls://` the TCP transport (TLS for `https://` and `tls://`).
 * The transport listens on the URL's host and port.
 */
import type { Metrics } from '../../lib/metrics.js'
import type { RaftLogger } from '../../lib/raft/logger.js'
import { HttpTransport } from '../../transports/http.js'
import { TcpTransport } from '../../transports/tcp.js'
import type { Transport } from '../../transports/transport.js'
import type { TlsFiles } from './options.js'
import { parsePeerUrl, transportKind } from './peer-url.js'

export interface PeerTransportOptions {
  readonly clusterId: string
  readonly secret?: string
  readonly tls?: TlsFiles
  readonly metrics?: Metrics
  readonly logger?: RaftLogger
}

/** The transport for a node whose peer URL is `selfUrl`. */
export function createPeerTransport(selfUrl: string, options: PeerTransportOptions): Transport {
  const url = parsePeerUrl(selfUrl)
  const secure = url.protocol === 'https:' || url.protocol === 'tls:'
  if (secure && !options.tls) throw new TypeError(`${url.protocol}// peers need TLS material (--tls-key, --tls-cert)`)
  // IPv6 hosts come bracketed in URLs; listeners take them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  // With a CA, peers verify each other both ways (mutual TLS); without, only the dialed side is.
  const tls = secure && options.tls ? { ...options.tls, mutual: options.tls.ca !== undefined } : undefined
  const common = {
    listen: { host, port: Number(url.port) },
    clusterId: options.clusterId,
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    ...(tls ? { tls } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  }
  return transportKind(url) === 'http' ? new HttpTransport(common) : new TcpTransport(common)
}
