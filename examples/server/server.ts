/**
 * One metastore server: a node (createNode) on the storage engine and peer transport its options
 * name, and the client API (classic routes and the JSON API under /v1/) over HTTP or HTTPS.
 *
 * @example
 * ```ts
 * const server = await startServer({ id: 1, peerUrls: ['http://127.0.0.1:12379'], port: 0, storage: 'memory' })
 * await fetch(`${server.url}/greeting`, { method: 'PUT', body: 'hello' })
 * await server.close()
 * ```
 */
import { mkdirSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { createNode, type MetastoreNode } from '../../lib/node/create-node.js'
import { Metrics } from '../../lib/metrics.js'
import { levelStorage } from '../../lib/storage/level-engine.js'
import type { LevelLogStore } from '../../lib/storage/level-log-store.js'
import { memoryStorage } from '../../lib/storage/memory-engine.js'
import { rocksdbStorage } from '../../lib/storage/rocksdb-engine.js'
import { listenWithRetry } from '../../transports/tcp-listen.js'
import type { Transport } from '../../transports/transport.js'
import type { RequestContext } from './context.js'
import { sendError, toHttpError } from './http-api.js'
import { createLog, type Log } from './log.js'
import {
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_WATCH_KEEPALIVE_MS,
  deriveClusterId,
  type ServerOptions,
  type StorageEngine,
} from './options.js'
import { createPeerTransport } from './peer-transport.js'
import { route, type RouterDeps } from './router.js'
import { loadSnapshot, readSnapshotFile, serveSnapshot, type SnapshotFile } from './snapshot.js'

export type { ServerOptions } from './options.js'

/** A running server. */
export interface RunningServer {
  /** The client API's base URL (`http://127.0.0.1:12380`). */
  readonly url: string
  readonly node: MetastoreNode<unknown>
  readonly clusterId: string
  /** Stops serving, closes the node (pending requests fail with 503 CLOSED) and its storage. */
  close(): Promise<void>
}

async function openStorage(engine: StorageEngine, dir: string): Promise<LevelLogStore> {
  if (engine === 'memory') return memoryStorage()
  mkdirSync(dir, { recursive: true })
  return engine === 'rocksdb' ? rocksdbStorage(dir) : levelStorage(dir)
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** Logs what an operator wants to see by default: leader and membership changes, errors. */
function watchNode(node: MetastoreNode<unknown>, log: Log): void {
  node.raft.on('leaderChanged', (leader, term) => {
    if (leader === 0) log.info(`no leader (term ${term})`)
    else log.info(`leader is node ${leader}${leader === node.id ? ' (this node)' : ''} (term ${term})`)
  })
  let wasRemoved = false
  node.raft.on('membershipChanged', () => {
    const members = node.members().map((m) => `${m.id}${m.role === 'learner' ? ' (learner)' : ''}${m.address ? ` ${m.address}` : ''}`)
    log.info(`members: ${members.join(', ')}`)
    if (node.status().removed && !wasRemoved) {
      wasRemoved = true
      log.warn('this node was removed from the cluster: it answers 503 REMOVED from now on; stop it')
    }
  })
  node.raft.on('error', (err) => log.error(`node stopped: ${err.message}`))
}

/** Starts a node and its client API. Resolves once the API listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { id, peerUrls } = options
  if (!Number.isSafeInteger(id) || id < 1 || id > peerUrls.length) throw new TypeError(`id ${id} has no peer URL (there are ${peerUrls.length})`)
  const log = createLog(id, options.logLevel ?? 'info', options.logSink)
  const clusterId = options.clusterId ?? deriveClusterId(peerUrls)
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
  const metrics = new Metrics()
  const dataDir = options.dataDir ?? `./data/${id}`
  const engine = options.storage ?? 'leveldb'

  // A snapshot to restore is read and verified before anything is created.
  const restore: SnapshotFile | undefined = options.restoreFrom === undefined ? undefined : await readSnapshotFile(options.restoreFrom)
  const storage = await openStorage(engine, dataDir)
  let transport: Transport | undefined
  let node: MetastoreNode<unknown> | undefined
  try {
    if (restore && (storage.lastIndex() > 0 || storage.hardState.term > 0)) {
      throw new Error(`--restore starts a new cluster, but ${dataDir} already holds a node's data`)
    }
    transport = options.transport ?? createPeerTransport(peerUrls[id - 1], { clusterId, secret: options.secret, tls: options.tls, metrics, logger: log.raft })
    node = await createNode<unknown>({
      id,
      peers: peerUrls.map((address, i) => ({ id: i + 1, address })),
      join: options.join,
      storage,
      transport,
      tickMs: options.tickMs,
      electionTick: options.electionTick,
      snapshotEvery: options.snapshotEvery,
      requestTimeoutMs,
      logger: log.raft,
      metrics,
    })
    if (restore) await loadSnapshot(node, restore, log)
  } catch (err) {
    if (node) await node.close().catch(() => {})
    await transport?.close().catch(() => {})
    await storage.close().catch(() => {})
    throw err
  }
  watchNode(node, log)

  const requests = metrics.counter('metastore_http_requests_total', 'Client API requests, by route and status code')
  const latency = metrics.histogram('metastore_http_request_duration_seconds', 'Client API request latency in seconds, by route (streams excluded)')
  const deps: RouterDeps = {
    metrics,
    clusterId,
    watchKeepaliveMs: options.watchKeepaliveMs ?? DEFAULT_WATCH_KEEPALIVE_MS,
    snapshot: serveSnapshot,
  }
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now()
    let name = 'unmatched'
    let streaming = false
    // One signal per request: aborted when the client goes away, or at the deadline (not for
    // streams). A timer of its own is much cheaper than AbortSignal.any over AbortSignal.timeout.
    const abort = new AbortController()
    let clientGone = false
    let deadline: NodeJS.Timeout | undefined
    const onClose = (): void => {
      if (res.writableFinished) return
      clientGone = true
      abort.abort(new Error('the client went away'))
    }
    res.on('close', onClose)
    try {
      const target = req.url ?? '/'
      const q = target.indexOf('?')
      const rawPath = q < 0 ? target : target.slice(0, q)
      const r = route(req.method ?? 'GET', rawPath, deps)
      name = r.name
      streaming = r.streaming === true
      if (!streaming) {
        deadline = setTimeout(() => abort.abort(new DOMException('the request did not complete in time', 'TimeoutError')), requestTimeoutMs)
      }
      const ctx: RequestContext = {
        node,
        req,
        res,
        rawPath,
        query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
        signal: abort.signal,
        maxRequestBytes,
        log,
      }
      await r.handler(ctx)
    } catch (err) {
      if (clientGone) {
        // The client left: there is nobody to answer, and nothing went wrong here.
        log.debug(`${req.method} ${req.url}: the client went away`)
        res.destroy()
        return
      }
      const e = toHttpError(err)
      if (e.status >= 500 && e.status !== 503) log.error(`${req.method} ${req.url}: ${e.code} ${e.message}`)
      else log.debug(`${req.method} ${req.url}: ${e.status} ${e.code} ${e.message}`)
      if (e.code === 'METHOD_NOT_ALLOWED' && !res.headersSent) res.setHeader('allow', (e.extras.allowed as string[]).join(', '))
      sendError(res, e)
    } finally {
      clearTimeout(deadline)
      res.off('close', onClose)
      requests.inc({ route: name, code: res.statusCode })
      if (!streaming) latency.observe((performance.now() - started) / 1000, { route: name })
    }
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      // Nothing a request does may bring the server down.
      log.error(`answering ${req.method} ${req.url}: ${(err as Error).message}`)
      res.destroy()
    })
  }
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert, ...(options.tls.ca ? { ca: options.tls.ca } : {}) }, listener)
    : createHttpServer(listener)
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    else socket.destroy()
  })
  const host = options.host ?? '127.0.0.1'
  try {
    await listenWithRetry(server, options.port, host, { onRetry: (err) => log.warn(`cannot listen on ${host}:${options.port} yet (${err.code}): trying again`) })
  } catch (err) {
    await node.close().catch(() => {})
    throw err
  }
  const port = (server.address() as AddressInfo).port
  const url = `${options.tls ? 'https' : 'http'}://${hostForUrl(host)}:${port}`
  log.info(`serving clients on ${url}, peers on ${peerUrls[id - 1]} (cluster ${clusterId}, ${engine} storage${engine === 'memory' ? '' : ` in ${dataDir}`})`)

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      // Watches end and pending requests are answered 503 CLOSED before the connections go.
      await node.close()
      server.closeAllConnections()
      await closed
      log.info('stopped')
    })()
    return closing
  }
  return { url, node, clusterId, close }
}
