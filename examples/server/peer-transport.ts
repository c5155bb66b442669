/**
 * Picks the peer transport from the scheme of this node's peer URL: `http://` and `https://` use
 * the HTTP transport, `tcp://` and `tls://` the TCP transport (TLS for `https://` and `tls://`).
 * The transport listens on the URL's host and port.
 */
import type { Metrics } from '../../lib/metrics.js'
import type { RaftLogger } from '../../lib/raft/logger.js'
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

/** The options both network transports take. */
interface NetworkTransportOptions {
  listen: { host: string; port: number }
  clusterId: string
  secret?: string
  tls?: TlsFiles
  metrics?: Metrics
  logger?: RaftLogger
}

type TransportClass = new (options: NetworkTransportOptions) => Transport

/** Loads a transport module by path (kept dynamic: only the transport a node uses is loaded). */
async function load(path: string, exported: string): Promise<TransportClass> {
  const mod = (await import(path)) as Record<string, unknown>
  const ctor = mod[exported]
  if (typeof ctor !== 'function') throw new Error(`${path} does not export ${exported}`)
  return ctor as TransportClass
}

/** The transport for a node whose peer URL is `selfUrl`. */
export async function createPeerTransport(selfUrl: string, options: PeerTransportOptions): Promise<Transport> {
  const url = parsePeerUrl(selfUrl)
  const secure = url.protocol === 'https:' || url.protocol === 'tls:'
  if (secure && !options.tls) throw new TypeError(`${url.protocol}// peers need TLS material (--tls-key, --tls-cert)`)
  // IPv6 hosts come bracketed in URLs; listeners take them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const transportOptions: NetworkTransportOptions = {
    listen: { host, port: Number(url.port) },
    clusterId: options.clusterId,
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    ...(secure && options.tls ? { tls: options.tls } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  }
  const Ctor = transportKind(url) === 'http' ? await load('../../transports/http.js', 'HttpTransport') : await load('../../transports/tcp.js', 'TcpTransport')
  return new Ctor(transportOptions)
}
