/**
 * The options of a server (what the `metastore` flags become), and their defaults.
 */
import { createHash } from 'node:crypto'
import type { Transport } from '../../transports/transport.js'
import type { LogLevel } from './log.js'

export type StorageEngine = 'leveldb' | 'rocksdb' | 'memory'

/** PEM material for the peer and client listeners. */
export interface TlsFiles {
  readonly key: Buffer | string
  readonly cert: Buffer | string
  readonly ca?: Buffer | string
}

export interface ServerOptions {
  /** This node's id: its place (from 1) in {@link peerUrls}. */
  readonly id: number
  /** The peer URLs of the members: node i listens on the i-th for its peers. */
  readonly peerUrls: readonly string[]
  /** The client API port; 0 picks a free one (see the `url` startServer returns). */
  readonly port: number
  /** The client API bind address. Default 127.0.0.1. */
  readonly host?: string
  /** Join a running cluster (the node was added by a member) instead of starting one. */
  readonly join?: boolean
  /** The data directory (leveldb, rocksdb). Default ./data/<id>. */
  readonly dataDir?: string
  /** Default leveldb. */
  readonly storage?: StorageEngine
  /** Peers of another cluster are refused. Default: derived from the first of {@link peerUrls}. */
  readonly clusterId?: string
  /** A secret every peer must present. */
  readonly secret?: string
  /** TLS for the peer transport and the client API. */
  readonly tls?: TlsFiles
  readonly tickMs?: number
  readonly electionTick?: number
  readonly snapshotEvery?: number
  /** How long a request may wait (for a majority) before a 503. Default 5,000 ms. */
  readonly requestTimeoutMs?: number
  /** The largest request body accepted (413 past it). Default 2 MiB. */
  readonly maxRequestBytes?: number
  /** Milliseconds between `: keepalive` comments on watch streams. Default 10,000. */
  readonly watchKeepaliveMs?: number
  /** A `/v1/snapshot` file to start a new single-node cluster from. */
  readonly restoreFrom?: string
  /** Default info: start and stop, leader and membership changes, errors. */
  readonly logLevel?: LogLevel
  /** Where log lines go. Default: stderr. */
  readonly logSink?: (line: string) => void
  /**
   * A transport to use instead of the one the peer URLs' scheme picks (tests in one process). The
   * peer URLs are then only handed to it as addresses.
   */
  readonly transport?: Transport
}

/** The default request timeout: well under the usual client timeouts (curl, fetch). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000
export const DEFAULT_MAX_REQUEST_BYTES = 2 * 1024 * 1024
export const DEFAULT_WATCH_KEEPALIVE_MS = 10_000

/**
 * The cluster id a node derives when `--cluster-id` is not given: from the first peer URL of
 * `--cluster` (node 1's, which stays first in every member's list: node i is the i-th URL). It
 * is the same for the initial members, for nodes that join later (whose lists are longer) and
 * for replacements, and differs between clusters started side by side (they cannot share node
 * 1's address). Set `--cluster-id` explicitly when node 1's URL is not a good name for the
 * cluster (it was replaced by a node elsewhere, say).
 */
export function deriveClusterId(peerUrls: readonly string[]): string {
  if (peerUrls.length === 0) throw new TypeError('no peer URL to derive a cluster id from')
  const u = new URL(peerUrls[0])
  return createHash('sha256').update(`metastore:${u.protocol}//${u.host}`).digest('hex').slice(0, 16)
}
