/**
 * The HTTP transport: Raft message batches POSTed between nodes, on a server of its own or
 * mounted on the host application's server next to its routes.
 *
 * Each link opens with a handshake (`POST <path>/handshake`, then `<path>/session` with a
 * secret; see `transports/auth.ts`) that checks the cluster id, both node ids and, with a secret,
 * that both sides know it; it yields a session token that every batch carries. Batches go over
 * keep-alive sockets, one POST per flush per peer; snapshots, whole or streamed from the node's
 * source (`sendSnapshot`), go on sockets of their own.
 * The protocol is described in `transports/http-protocol.ts`.
 *
 * @module
 */
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import { ClosedError, UnreachableError } from '../lib/errors.js'
import { Metrics } from '../lib/metrics.js'
import { silentLogger, type RaftLogger } from '../lib/raft/logger.js'
import { MessageType, type Message, type NodeId } from '../lib/raft/types.js'
import type { Transport, TransportHandler } from './transport.js'
import { HttpAcceptor } from './http-acceptor.js'
import { QuietLog, transportCounters, type TransportCounters } from './http-metrics.js'
import { reply } from './http-protocol.js'
import { HttpPeer, type HttpTlsOptions } from './http-peer.js'
import { SessionTable } from './http-sessions.js'
import { listenWithRetry } from './tcp-listen.js'
import { Probes, type ProbeResult } from './probe.js'
import type { SnapshotRefusedError } from './snapshot-stream.js'

export type { HttpTlsOptions } from './http-peer.js'
export { SnapshotRefusedError } from './snapshot-stream.js'

/** Options of an {@link HttpTransport}. */
export interface HttpTransportOptions {
  /**
   * Listen on a server of the transport's own: `{ host, port }`, or `'host:port'`, `':port'`,
   * `'port'`. Port 0 picks a free port (read it from {@link HttpTransport.port}). The host
   * defaults to `127.0.0.1`, as the TCP transport's: give `0.0.0.0` (or an interface's address)
   * for peers on other machines.
   */
  readonly listen?: { readonly host?: string; readonly port: number } | string
  /**
   * Mount on the host's server instead: requests under `path` are answered by the transport, the
   * others go to the `request` listeners the server had when the transport was made. Register
   * your own listener first (as `http.createServer(app)` does), or have it skip `path`.
   */
  readonly server?: http.Server | https.Server
  /** Where the transport answers. Default `/raft`. */
  readonly path?: string
  /** Nodes of another cluster are refused. */
  readonly clusterId: string
  /** Shared by every node: both sides of a link prove they know it (it never travels). */
  readonly secret?: string
  /** HTTPS for the server it listens on, and for `https://` peers; `mutual` requires client certificates. */
  readonly tls?: HttpTlsOptions
  /** The largest batch accepted; larger ones are answered 413. Default 64 MiB. */
  readonly maxBodyBytes?: number
  /** The largest snapshot accepted. Default 1 GiB. */
  readonly maxSnapshotBytes?: number
  /** Messages queued per peer; more are dropped (and the peer reported unreachable). Default 4096. */
  readonly queueLimit?: number
  /** Bytes (estimated) queued per peer; more are dropped (and the peer reported unreachable). Default 64 MiB. */
  readonly queueBytes?: number
  /** Batch POSTs in flight per peer. Default 1, which keeps each link in order. */
  readonly maxInflight?: number
  /** A POST (or a request body) that makes no progress for this long fails. Default 10 s. */
  readonly requestTimeoutMs?: number
  /** How long a session token lasts; dialers renew at half of it. Default 10 minutes. */
  readonly sessionTtlMs?: number
  readonly metrics?: Metrics
  readonly logger?: RaftLogger
}

/** Connections its own server accepts at once: peers use a few each, so this is plenty. */
const MAX_CONNECTIONS = 1024

interface Resolved {
  readonly path: string
  readonly clusterId: string
  readonly secret: string | undefined
  readonly tls: HttpTlsOptions | undefined
  readonly maxBodyBytes: number
  readonly maxSnapshotBytes: number
  readonly queueLimit: number
  readonly queueBytes: number
  readonly maxInflight: number
  readonly requestTimeoutMs: number
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback
  if (!Number.isSafeInteger(v) || v <= 0) throw new TypeError(`${name} must be a positive integer`)
  return v
}

function parseListen(listen: HttpTransportOptions['listen']): { host: string; port: number } | undefined {
  if (listen === undefined) return undefined
  if (typeof listen !== 'string') return { host: listen.host ?? '127.0.0.1', port: listen.port }
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(listen.trim())
  if (!m) throw new TypeError(`listen ${JSON.stringify(listen)} is not 'host:port'`)
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) }
}

/**
 * A {@link Transport} over HTTP/1.1 (or HTTPS, with mutual TLS if asked).
 *
 * @example
 * ```ts
 * const transport = new HttpTransport({ listen: { host: '127.0.0.1', port: 7001 }, clusterId: 'prod', secret })
 * transport.addPeer(2, 'http://10.0.0.2:7001')
 * transport.addPeer(3, 'http://10.0.0.3:7001')
 * const node = await createNode({ id: 1, peers: [1, 2, 3], storage, transport })
 * ```
 *
 * @example Mounted on the application's server
 * ```ts
 * const server = http.createServer(app)
 * const transport = new HttpTransport({ server, path: '/raft', clusterId: 'prod', secret })
 * server.listen(8080)
 * ```
 */
export class HttpTransport implements Transport {
  /** The registry the transport records into (`metastore_transport_*`). */
  readonly metrics: Metrics
  readonly #o: Resolved
  readonly #listen: { host: string; port: number } | undefined
  readonly #hostServer: http.Server | https.Server | undefined
  readonly #counters: TransportCounters
  readonly #logger: RaftLogger
  readonly #log: QuietLog
  readonly #sessions: SessionTable
  readonly #acceptor: HttpAcceptor
  readonly #addresses = new Map<NodeId, URL>()
  readonly #peers = new Map<NodeId, HttpPeer>()
  readonly #probes = new Probes()
  #ownServer: http.Server | undefined
  #listening: Promise<number> | undefined
  #self: NodeId | undefined
  #handler: TransportHandler | undefined
  #closed = false
  #unknownPeers = new Set<NodeId>()
  #unknownImmediate: NodeJS.Immediate | undefined

  constructor(options: HttpTransportOptions) {
    if (typeof options?.clusterId !== 'string' || options.clusterId.length === 0) throw new TypeError('clusterId is a non-empty string')
    if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret.length === 0)) throw new TypeError('secret is a non-empty string')
    if (options.listen !== undefined && options.server !== undefined) throw new TypeError('give listen or server, not both')
    const path = (options.path ?? '/raft').replace(/\/+$/, '')
    if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(path) || path.length < 2) throw new TypeError(`path ${JSON.stringify(options.path)} is not an absolute URL path`)
    this.#listen = parseListen(options.listen)
    if (this.#listen && (!Number.isInteger(this.#listen.port) || this.#listen.port < 0 || this.#listen.port > 65535)) throw new TypeError('listen port must be 0-65535')
    this.#hostServer = options.server
    const timeout = positive('requestTimeoutMs', options.requestTimeoutMs, 10_000)
    this.#o = Object.freeze({
      path,
      clusterId: options.clusterId,
      secret: options.secret,
      tls: options.tls,
      maxBodyBytes: positive('maxBodyBytes', options.maxBodyBytes, 64 * 1024 * 1024),
      maxSnapshotBytes: positive('maxSnapshotBytes', options.maxSnapshotBytes, 1024 * 1024 * 1024),
      queueLimit: positive('queueLimit', options.queueLimit, 4096),
      queueBytes: positive('queueBytes', options.queueBytes, 64 * 1024 * 1024),
      maxInflight: positive('maxInflight', options.maxInflight, 1),
      requestTimeoutMs: timeout,
    })
    this.metrics = options.metrics ?? new Metrics()
    this.#counters = transportCounters(this.metrics)
    this.#logger = options.logger ?? silentLogger
    this.#log = new QuietLog(this.#logger)
    this.#sessions = new SessionTable({
      sessionTtlMs: positive('sessionTtlMs', options.sessionTtlMs, 10 * 60_000),
      challengeTtlMs: Math.max(timeout, 5000),
      sessionsPerPeer: 4,
      maxChallenges: 1024,
    })
    this.#acceptor = new HttpAcceptor({
      clusterId: this.#o.clusterId,
      secret: this.#o.secret,
      maxBodyBytes: this.#o.maxBodyBytes,
      maxSnapshotBytes: this.#o.maxSnapshotBytes,
      bodyIdleMs: timeout,
      sessions: this.#sessions,
      counters: this.#counters,
      log: this.#log,
      target: () => (this.#closed || this.#self === undefined || !this.#handler ? undefined : { self: this.#self, handler: this.#handler }),
      isKnown: (id) => this.#addresses.has(id),
    })
    if (this.#hostServer) this.#mount(this.#hostServer)
  }

  /** The port the server listens on (its own, or the host's once listening); undefined before. */
  get port(): number | undefined {
    const server = this.#ownServer ?? this.#hostServer
    const a = server?.address()
    return a && typeof a === 'object' ? (a as AddressInfo).port : undefined
  }

  /** The path the transport answers under. */
  get path(): string {
    return this.#o.path
  }

  /**
   * Binds the transport's own server now (`start` does it otherwise), so that its port is known
   * before the node starts (port 0); requests that come before `start` are answered 503 and
   * their dialers retry. Mounted (or with neither `listen` nor `server`) there is nothing to bind:
   * resolves the host server's port, or 0 if it does not listen yet.
   */
  listen(): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('the transport is closed'))
    if (!this.#listen) return Promise.resolve(this.port ?? 0)
    this.#listening ??= this.#listenOwn(this.#listen).then(() => this.port as number)
    return this.#listening
  }

  async start(self: NodeId, handler: TransportHandler): Promise<void> {
    if (this.#closed) throw new Error('the transport is closed')
    if (this.#self !== undefined) throw new Error('transport already started')
    if (!Number.isSafeInteger(self) || self <= 0) throw new TypeError('a node id is a positive integer')
    await this.listen()
    if (this.#closed) throw new Error('the transport is closed')
    this.#self = self
    this.#handler = handler
    this.#logger.info(`${self} serving Raft over HTTP${this.#o.tls && this.#listen ? 'S' : ''} at ${this.#o.path}${this.port === undefined ? '' : ` on port ${this.port}`}`)
  }

  /**
   * Answers a request if it is under the transport's path (returns true), else leaves it alone
   * (returns false). For hosts that keep their own request listener:
   *
   * @example
   * ```ts
   * http.createServer((req, res) => {
   *   if (transport.handle(req, res)) return
   *   app(req, res)
   * })
   * ```
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    const pathname = q < 0 ? url : url.slice(0, q)
    const base = this.#o.path
    if (!pathname.startsWith(base) || (pathname.length > base.length && pathname[base.length] !== '/')) return false
    try {
      if (this.#closed) reply(req, res, 503, { code: 'CLOSED', message: 'the transport is closed' }, true)
      else this.#acceptor.serve(req, res, pathname.slice(base.length))
    } catch (err) {
      // Nothing here throws by design; if it does, the request fails, not the process.
      this.#logger.error(`http transport: ${(err as Error).message}`)
      req.destroy()
    }
    return true
  }

  send(to: NodeId, messages: readonly Message[]): void {
    if (this.#closed || this.#self === undefined || messages.length === 0) return
    let peer = this.#peers.get(to)
    if (!peer) {
      const url = this.#addresses.get(to)
      if (!url) {
        this.#counters.dropped.inc({ peer: to }, messages.length)
        this.#reportUnknown(to)
        return
      }
      peer = this.#newPeer(to, url)
    }
    peer.send(messages)
  }

  /**
   * Streams a snapshot to `to` as one chunked `POST <path>/snapshot-stream` on a socket of its
   * own, pulling the next chunk of `chunks` only once the socket took the previous one (see
   * {@link Transport.sendSnapshot}). The data of `message` is ignored. Rejects with a
   * {@link SnapshotRefusedError} when the peer did not take it, an `UnreachableError` when the
   * connection failed or made no progress for 60 s, a `ClosedError` when this transport closed,
   * a `TooLargeError` for a chunk over `maxBodyBytes`, or the error `chunks` threw. A chunk must
   * not change once yielded.
   */
  sendSnapshot(to: NodeId, message: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the transport is closed'))
    if (this.#self === undefined) return Promise.reject(new TypeError('the transport has not started'))
    if (message?.type !== MessageType.Snap || !message.snapshot) return Promise.reject(new TypeError('sendSnapshot sends a Snap message'))
    let peer = this.#peers.get(to)
    if (!peer) {
      const url = this.#addresses.get(to)
      if (!url) return Promise.reject(new UnreachableError(to, `node ${to} is not a known peer`))
      peer = this.#newPeer(to, url)
    }
    return peer.streamSnapshot(message, chunks)
  }

  /**
   * Learns where a peer is: `http://host:port` or `https://host:port`, optionally with the path
   * it answers under (default: this transport's). Only peers added here are accepted.
   */
  addPeer(id: NodeId, address: string): void {
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('a node id is a positive integer')
    let url: URL
    try {
      url = new URL(address)
    } catch {
      throw new TypeError(`peer address ${JSON.stringify(address)} is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`peer address ${JSON.stringify(address)} is not http(s)`)
    if (url.pathname === '/' || url.pathname === '') url.pathname = this.#o.path
    const old = this.#addresses.get(id)
    if (old?.href === url.href) return
    this.#addresses.set(id, url)
    this.#peers.get(id)?.close()
    this.#peers.delete(id)
  }

  /** Whether the peer still listens: `down` only if its host and port refused a TCP connection. */
  async probe(peer: NodeId): Promise<ProbeResult> {
    const url = this.#addresses.get(peer)
    if (url === undefined || this.#closed) return 'unknown'
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
    // NB: URL keeps the brackets of an IPv6 literal; net.connect wants the bare address.
    return this.#probes.probe(url.hostname.replace(/^\[|\]$/g, ''), port, 1000)
  }

  /** Forgets a peer: its queue and sockets go, and its sessions are no longer accepted. */
  removePeer(id: NodeId): void {
    this.#addresses.delete(id)
    this.#peers.get(id)?.close()
    this.#peers.delete(id)
    this.#sessions.dropPeer(id)
  }

  /**
   * Stops: closes its own server and every connection to it, or (mounted) answers its path with
   * 503 from now on; destroys the sockets to peers and clears every timer.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#probes.cancelAll()
    if (this.#unknownImmediate) clearImmediate(this.#unknownImmediate)
    for (const p of this.#peers.values()) p.close()
    this.#peers.clear()
    this.#acceptor.close()
    this.#sessions.clear()
    await this.#listening?.catch(() => {})
    const server = this.#ownServer
    if (server?.listening) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }

  #newPeer(id: NodeId, url: URL): HttpPeer {
    const peer = new HttpPeer({
      self: this.#self as NodeId,
      id,
      url,
      clusterId: this.#o.clusterId,
      secret: this.#o.secret,
      tls: this.#o.tls,
      queueLimit: this.#o.queueLimit,
      queueBytes: this.#o.queueBytes,
      maxInflight: this.#o.maxInflight,
      maxBatchBytes: Math.min(this.#o.maxBodyBytes, 4 * 1024 * 1024),
      maxChunkBytes: this.#o.maxBodyBytes,
      requestTimeoutMs: this.#o.requestTimeoutMs,
      counters: this.#counters,
      log: this.#log,
      logger: this.#logger,
      unreachable: (to) => {
        if (!this.#closed) this.#handler?.onUnreachable(to)
      },
    })
    this.#peers.set(id, peer)
    return peer
  }

  #reportUnknown(id: NodeId): void {
    this.#unknownPeers.add(id)
    if (this.#unknownImmediate) return
    this.#unknownImmediate = setImmediate(() => {
      this.#unknownImmediate = undefined
      const ids = [...this.#unknownPeers]
      this.#unknownPeers.clear()
      if (this.#closed) return
      for (const to of ids) this.#handler?.onUnreachable(to)
    })
  }

  #mount(server: http.Server | https.Server): void {
    // Requests under our path must not also reach the host's listeners (which would answer 404
    // on top of ours), so the transport takes the listeners over and hands them the rest.
    const others = server.listeners('request') as Array<(req: http.IncomingMessage, res: http.ServerResponse) => void>
    server.removeAllListeners('request')
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (this.handle(req, res)) return
      for (const listener of others) listener.call(server, req, res)
    })
  }

  async #listenOwn(at: { host: string; port: number }): Promise<void> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      if (!this.handle(req, res)) reply(req, res, 404, { code: 'MALFORMED', message: 'no such route' }, true)
    }
    const tls = this.#o.tls
    const server: http.Server = tls
      ? https.createServer({ key: tls.key, cert: tls.cert, ca: tls.ca as https.ServerOptions['ca'], requestCert: tls.mutual === true, rejectUnauthorized: tls.mutual === true }, onRequest)
      : http.createServer(onRequest)
    // A peer's idle keep-alive socket lives longer here than in its agent, so the agent never
    // picks a socket this side is closing.
    server.keepAliveTimeout = 65_000
    server.headersTimeout = 66_000
    // No bound on a whole request: a streamed snapshot takes as long as it takes, and request
    // bodies have idle timeouts of their own.
    server.requestTimeout = 0
    // Not HTTP, or broken HTTP: say so if the socket can still hear it, and close.
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // As Node's own handler: no 400 on a socket whose current answer has begun (it would
      // follow that answer, after a `Connection: close`).
      const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
      if (err.code === 'ECONNRESET' || !socket.writable || answering?.headersSent) {
        socket.destroy()
        return
      }
      this.#counters.malformed.inc({ reason: 'protocol' })
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => socket.destroy())
    })
    server.maxConnections = MAX_CONNECTIONS
    server.on('tlsClientError', (err: Error) => {
      this.#counters.refused.inc({ reason: 'tls' })
      this.#log.warn('refused:tls', `${this.#self ?? '-'} refused a TLS connection: ${err.message}`)
    })
    this.#ownServer = server
    await listenWithRetry(server, at.port, at.host, {
      cancelled: () => this.#closed,
      onRetry: (err) => this.#logger.warn(`${this.#self ?? '-'} cannot listen on ${at.host}:${at.port} yet (${err.code}): trying again`),
    })
    server.on('error', (err) => this.#logger.error(`http transport server: ${err.message}`))
  }
}
