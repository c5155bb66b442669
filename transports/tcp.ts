/**
 * The TCP transport: Raft message batches over persistent TCP (or TLS) connections between
 * nodes, each link opened by a mutually authenticated handshake. See docs/transports.md.
 *
 * Each node dials one connection per peer and only sends on it; it receives on the connections its
 * peers dialed (one stream per direction). Snapshots, whole or streamed, go on a connection of
 * their own.
 *
 * @module
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer, type ConnectionOptions, type TlsOptions } from 'node:tls'
import { ClosedError, UnreachableError } from '../lib/errors.js'
import { Metrics, type Counter } from '../lib/metrics.js'
import { silentLogger, type RaftLogger } from '../lib/raft/logger.js'
import { MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import { formatAddress, listenAddress, parseAddress } from './tcp-address.js'
import type { TcpAddress } from './tcp-dial.js'
import { InboundConnection, type InboundHost } from './tcp-inbound.js'
import { listenWithRetry } from './tcp-listen.js'
import { PeerLink, type PeerHost } from './tcp-peer.js'
import { Probes, type ProbeResult } from './probe.js'
import type { Transport, TransportHandler } from './transport.js'
import type { SnapshotRefusedError } from './snapshot-stream.js'

export type { TcpAddress } from './tcp-dial.js'
export { parseAddress } from './tcp-address.js'
export { SnapshotRefusedError } from './snapshot-stream.js'

/** TLS for every link (`node:tls` options). With `mutual`, each side presents a certificate the other checks. */
export interface TcpTlsOptions {
  /** This node's private key and certificate (PEM). */
  readonly key: string | Buffer
  readonly cert: string | Buffer
  /** The certificate authorities to trust (PEM); the system's by default. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /** Require and check a client certificate on accepted connections (mutual TLS). */
  readonly mutual?: boolean
  /** Alias of `mutual`, as `node:tls` names it. */
  readonly requestCert?: boolean
  /** Refuse a peer whose certificate does not check out. Default true. */
  readonly rejectUnauthorized?: boolean
  /** The name to check the server certificate against, when it is not the host dialed. */
  readonly servername?: string
}

/** Options of {@link TcpTransport}. */
export interface TcpTransportOptions {
  /** Where to listen: `{ host?, port }` (host defaults to 127.0.0.1; port 0 picks a free port) or `'host:port'`. */
  readonly listen: { host?: string; port: number } | string
  /** Nodes of another cluster are refused. */
  readonly clusterId: string
  /** A secret shared by the cluster's nodes: each link proves it both ways (it never travels). */
  readonly secret?: string
  readonly tls?: TcpTlsOptions
  /** The largest frame accepted or sent. Default 64 MiB. */
  readonly maxFrameBytes?: number
  /** The largest snapshot accepted. Default 1 GiB. */
  readonly maxSnapshotBytes?: number
  /** Messages queued per peer before new ones are dropped. Default 4096. */
  readonly queueLimit?: number
  /** Bytes (estimated) queued per peer before new messages are dropped. Default 64 MiB. */
  readonly queueBytes?: number
  /** Bound on an accepted connection's handshake. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number
  /** Bound on connecting to a peer plus the handshake. Default 5000 ms. */
  readonly dialTimeoutMs?: number
  /** Reconnection backoff: the first delay, doubled per failure up to the cap. Defaults 50 and 1000 ms. */
  readonly backoffMinMs?: number
  readonly backoffMaxMs?: number
  /** Accepted connections at once. Default 1024. */
  readonly maxConnections?: number
  /** Where the `metastore_transport_*` metrics go; a registry of its own by default. */
  readonly metrics?: Metrics
  readonly logger?: RaftLogger
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback
  if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`${name} must be a positive integer`)
  return v
}

interface Counters {
  sentMessages: Counter
  sentBytes: Counter
  receivedMessages: Counter
  receivedBytes: Counter
  dropped: Counter
  refused: Counter
  reconnects: Counter
  malformed: Counter
}

function counters(m: Metrics): Counters {
  return {
    sentMessages: m.counter('metastore_transport_sent_messages_total', 'Messages written to peers.'),
    sentBytes: m.counter('metastore_transport_sent_bytes_total', 'Bytes of message frames written to peers.'),
    receivedMessages: m.counter('metastore_transport_received_messages_total', 'Messages received from peers.'),
    receivedBytes: m.counter('metastore_transport_received_bytes_total', 'Bytes of message frames received from peers.'),
    dropped: m.counter('metastore_transport_dropped_messages_total', 'Messages dropped: queue full, peer unreachable or unknown.'),
    refused: m.counter('metastore_transport_refused_total', 'Connections refused by the handshake, by reason.'),
    reconnects: m.counter('metastore_transport_reconnects_total', 'Connections dialed again after a failure or a loss.'),
    malformed: m.counter('metastore_transport_malformed_frames_total', 'Connections closed for a malformed or oversized frame, by reason.'),
  }
}

/**
 * Raft message batches over TCP or TLS.
 *
 * @example
 * const transport = new TcpTransport({ listen: '0.0.0.0:7001', clusterId: 'prod', secret: process.env.CLUSTER_SECRET })
 * transport.addPeer(2, '10.0.0.2:7001')
 * transport.addPeer(3, '10.0.0.3:7001')
 * const node = await createNode({ id: 1, peers: [1, 2, 3], storage, transport })
 */
export class TcpTransport implements Transport {
  /** The registry the transport records into. */
  readonly metrics: Metrics
  readonly #listen: TcpAddress
  readonly #clusterId: string
  readonly #secret: string | undefined
  readonly #tls: TcpTlsOptions | undefined
  readonly #clientTls: ConnectionOptions | undefined
  readonly #logger: RaftLogger
  readonly #limits: {
    maxFrameBytes: number
    maxSnapshotBytes: number
    queueLimit: number
    queueBytes: number
    handshakeTimeoutMs: number
    dialTimeoutMs: number
    backoffMinMs: number
    backoffMaxMs: number
    maxConnections: number
  }
  readonly #c: Counters
  readonly #peers = new Map<NodeId, PeerLink>()
  readonly #probes = new Probes()
  readonly #addresses = new Map<NodeId, TcpAddress>()
  readonly #inbound = new Set<InboundConnection>()
  readonly #sockets = new Set<Socket>()
  readonly #unreachable = new Set<NodeId>()
  #unreachableImmediate: ReturnType<typeof setImmediate> | undefined
  #server: Server | undefined
  #listening: Promise<TcpAddress> | undefined
  #bound: TcpAddress | undefined
  #self: NodeId | undefined
  #handler: TransportHandler | undefined
  #closed = false

  constructor(options: TcpTransportOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options are required')
    if (typeof options.clusterId !== 'string' || options.clusterId.length === 0 || options.clusterId.length > 1024) {
      throw new TypeError('clusterId must be a non-empty string (at most 1024 characters)')
    }
    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret.length === 0)) throw new TypeError('secret must be a non-empty string')
    this.#listen = listenAddress(options.listen)
    this.#clusterId = options.clusterId
    this.#secret = options.secret
    this.#tls = options.tls
    if (options.tls) {
      const t = options.tls
      if (t.key === undefined || t.cert === undefined) throw new TypeError('tls needs key and cert')
      this.#clientTls = {
        key: t.key,
        cert: t.cert,
        ca: t.ca as ConnectionOptions['ca'],
        rejectUnauthorized: t.rejectUnauthorized ?? true,
        servername: t.servername,
      }
    }
    const backoffMinMs = positive('backoffMinMs', options.backoffMinMs, 50)
    this.#limits = {
      maxFrameBytes: positive('maxFrameBytes', options.maxFrameBytes, 64 * 1024 * 1024),
      maxSnapshotBytes: positive('maxSnapshotBytes', options.maxSnapshotBytes, 1024 * 1024 * 1024),
      queueLimit: positive('queueLimit', options.queueLimit, 4096),
      queueBytes: positive('queueBytes', options.queueBytes, 64 * 1024 * 1024),
      handshakeTimeoutMs: positive('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000),
      dialTimeoutMs: positive('dialTimeoutMs', options.dialTimeoutMs, 5000),
      backoffMinMs,
      backoffMaxMs: Math.max(backoffMinMs, positive('backoffMaxMs', options.backoffMaxMs, 1000)),
      maxConnections: positive('maxConnections', options.maxConnections, 1024),
    }
    this.metrics = options.metrics ?? new Metrics()
    this.#c = counters(this.metrics)
    this.#logger = options.logger ?? silentLogger
  }

  /** The address the server is bound to (after {@link listen} or `start`), else undefined. */
  get address(): TcpAddress | undefined {
    return this.#bound
  }

  /** The bound port (after {@link listen} or `start`). */
  get port(): number {
    if (!this.#bound) throw new TypeError('the transport is not listening yet: await listen() first')
    return this.#bound.port
  }

  /**
   * Binds the server now (`start` does it otherwise), so that the port is known before the node
   * starts (port 0). Connections accepted before `start` are closed: their dialers retry.
   */
  listen(): Promise<TcpAddress> {
    if (this.#closed) return Promise.reject(new TypeError('the transport is closed'))
    this.#listening ??= new Promise<TcpAddress>((resolve, reject) => {
      const onConnection = (socket: Socket): void => this.#accept(socket)
      const server = this.#tls ? createTlsServer(this.#serverTls(), onConnection) : createNetServer(onConnection)
      this.#server = server
      server.maxConnections = this.#limits.maxConnections
      if (this.#tls) {
        server.on('tlsClientError', (err: Error) => {
          this.#c.refused.inc({ reason: 'tls' })
          this.#logger.warn(`${this.#self ?? '-'} refused a TLS connection: ${err.message}`)
        })
      }
      listenWithRetry(server, this.#listen.port, this.#listen.host, {
        cancelled: () => this.#closed,
        onRetry: (err) => this.#logger.warn(`${this.#self ?? '-'} cannot listen on ${formatAddress(this.#listen)} yet (${err.code}): trying again`),
      }).then(() => {
        server.on('error', (err) => this.#logger.error(`${this.#self ?? '-'} transport server: ${err.message}`))
        const a = server.address()
        this.#bound = typeof a === 'object' && a !== null ? { host: this.#listen.host, port: a.port } : this.#listen
        resolve(this.#bound)
      }, reject)
    })
    return this.#listening
  }

  async start(self: NodeId, handler: TransportHandler): Promise<void> {
    if (this.#self !== undefined) throw new TypeError('transport already started')
    if (!Number.isSafeInteger(self) || self <= 0) throw new TypeError('a node id is a positive integer')
    if (this.#closed) throw new TypeError('the transport is closed')
    await this.listen()
    this.#self = self
    this.#handler = handler
    this.#logger.info(`${self} listening on ${formatAddress(this.#bound!)}${this.#tls ? ' (TLS)' : ''}`)
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (this.#closed || this.#self === undefined || messages.length === 0) return
    const link = this.#link(to)
    if (!link) {
      this.#c.dropped.inc({ peer: to }, messages.length)
      this.#reportUnreachable(to)
      return
    }
    let snapshots = 0
    for (const m of messages) if (m.type === MessageType.Snap && m.snapshot) snapshots++
    if (snapshots === 0) {
      link.send(messages)
      return
    }
    const rest: Message[] = []
    for (const m of messages) {
      if (m.type === MessageType.Snap && m.snapshot) link.sendSnapshot(m)
      else rest.push(m)
    }
    if (rest.length > 0) link.send(rest)
  }

  /**
   * Streams a snapshot to `to` on a connection of its own, pulling the next chunk of `chunks`
   * only once the socket took the previous one (see {@link Transport.sendSnapshot}). The data
   * of `message` is ignored. Rejects with a {@link SnapshotRefusedError} when the peer did not
   * take it, an `UnreachableError` when the connection failed or made no progress for 60 s, a
   * `ClosedError` when this transport closed, a `TooLargeError` for a chunk over
   * `maxFrameBytes`, or the error `chunks` threw. A chunk must not change once yielded.
   */
  sendSnapshot(to: NodeId, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the transport is closed'))
    if (this.#self === undefined) return Promise.reject(new TypeError('the transport has not started'))
    if (message?.type !== MessageType.Snap || !message.snapshot) return Promise.reject(new TypeError('sendSnapshot sends a Snap message'))
    const link = this.#link(to)
    if (!link) return Promise.reject(new UnreachableError(to, `node ${to} is not a known peer`))
    return link.streamSnapshot(message, chunks)
  }

  /** Learns where a peer listens: `host:port`, `tcp://`, `tls://` or `http://host:port`. */
  addPeer(id: NodeId, address: string): void {
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('a node id is a positive integer')
    const a = parseAddress(address)
    this.#addresses.set(id, a)
    this.#peers.get(id)?.setAddress(a)
  }

  /** Whether the peer still listens: `down` only if its address refused a TCP connection. */
  async probe(peer: NodeId): Promise<ProbeResult> {
    const a = this.#addresses.get(peer)
    if (a === undefined || this.#closed) return 'unknown'
    return this.#probes.probe(a.host, a.port, Math.min(1000, this.#limits.dialTimeoutMs))
  }

  /** Forgets a peer: its links close, and it is refused from now on. */
  removePeer(id: NodeId): void {
    this.#addresses.delete(id)
    this.#peers.get(id)?.close()
    this.#peers.delete(id)
    for (const conn of this.#inbound) if (conn.peer === id) conn.close()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#probes.cancelAll()
    for (const link of this.#peers.values()) link.close()
    this.#peers.clear()
    for (const conn of this.#inbound) conn.close()
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    if (this.#unreachableImmediate) clearImmediate(this.#unreachableImmediate)
    this.#unreachable.clear()
    const server = this.#server
    if (server) {
      await this.#listening?.catch(() => {})
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  #serverTls(): TlsOptions {
    const t = this.#tls!
    const mutual = t.mutual ?? t.requestCert ?? false
    return {
      key: t.key,
      cert: t.cert,
      ca: t.ca as TlsOptions['ca'],
      requestCert: mutual,
      rejectUnauthorized: mutual ? (t.rejectUnauthorized ?? true) : false,
    }
  }

  #link(to: NodeId): PeerLink | undefined {
    let link = this.#peers.get(to)
    if (link) return link
    const address = this.#addresses.get(to)
    if (!address || to === this.#self) return undefined
    link = new PeerLink(to, address, this.#peerHost())
    this.#peers.set(to, link)
    return link
  }

  #peerHost(): PeerHost {
    const c = this.#c
    return {
      self: this.#self!,
      clusterId: this.#clusterId,
      secret: this.#secret,
      tls: this.#clientTls,
      ...this.#limits,
      logger: this.#logger,
      track: (s) => this.#track(s),
      untrack: (s) => this.#sockets.delete(s),
      sent: (peer, messages, bytes) => {
        c.sentMessages.inc({ peer }, messages)
        c.sentBytes.inc({ peer }, bytes)
      },
      dropped: (peer, messages) => c.dropped.inc({ peer }, messages),
      unreachable: (peer) => this.#reportUnreachable(peer),
      reconnecting: (peer) => c.reconnects.inc({ peer }),
      refused: (reason) => c.refused.inc({ reason }),
    }
  }

  #track(socket: Socket): void {
    if (this.#closed) {
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
  }

  #accept(socket: Socket): void {
    socket.on('error', () => {})
    if (this.#closed || this.#self === undefined) {
      socket.destroy()
      return
    }
    this.#track(socket)
    const conn = new InboundConnection(socket, this.#inboundHost())
    this.#inbound.add(conn)
  }

  #inboundHost(): InboundHost {
    const c = this.#c
    const self = this.#self!
    return {
      self,
      clusterId: this.#clusterId,
      secret: this.#secret,
      maxFrameBytes: this.#limits.maxFrameBytes,
      maxSnapshotBytes: this.#limits.maxSnapshotBytes,
      handshakeTimeoutMs: this.#limits.handshakeTimeoutMs,
      isKnown: (id) => this.#addresses.has(id),
      deliver: (from, messages, bytes) => {
        if (this.#closed) return
        c.receivedMessages.inc({ peer: from }, messages.length)
        c.receivedBytes.inc({ peer: from }, bytes)
        try {
          this.#handler!.onMessages(from, messages)
        } catch (err) {
          this.#logger.error(`${self} failed to take messages from node ${from}: ${(err as Error).message}`)
        }
      },
      stream: (from, message, chunks) => {
        const handler = this.#handler!
        if (this.#closed || !handler.onSnapshot) return undefined
        let taken: Promise<void>
        try {
          taken = Promise.resolve(handler.onSnapshot(from, message, chunks))
        } catch (err) {
          taken = Promise.reject(err)
        }
        taken.catch((err: unknown) => this.#logger.warn(`${self} did not take the snapshot streamed by node ${from}: ${(err as Error)?.message ?? err}`))
        return taken
      },
      received: (from, messages, bytes) => {
        if (messages > 0) c.receivedMessages.inc({ peer: from }, messages)
        if (bytes > 0) c.receivedBytes.inc({ peer: from }, bytes)
      },
      refused: (reason, message) => {
        c.refused.inc({ reason })
        this.#logger.warn(`${self} refused a connection (${reason}): ${message}`)
      },
      malformed: (reason, message, peer) => {
        c.malformed.inc({ reason })
        this.#logger.warn(`${self} closed the connection from node ${peer ?? '?'}: ${message}`)
      },
      closed: (conn) => this.#inbound.delete(conn),
    }
  }

  #reportUnreachable(peer: NodeId): void {
    if (this.#closed) return
    this.#unreachable.add(peer)
    // Later, never from inside send(): the node is in the middle of handling a Ready.
    this.#unreachableImmediate ??= setImmediate(() => {
      this.#unreachableImmediate = undefined
      const peers = [...this.#unreachable]
      this.#unreachable.clear()
      for (const p of peers) {
        if (this.#closed) return
        this.#handler?.onUnreachable(p)
      }
    })
  }
}
