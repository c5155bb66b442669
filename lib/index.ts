/**
 * metastore: an embeddable, strongly consistent, replicated key-value store for Node.js.
 *
 * `createNode()` starts a member of a cluster and returns the typed KV API. This entry point also
 * exposes the building blocks it is made of: the pure Raft core (`RawNode`), durable storage on abstract-level (`LevelLogStore` and the
 * `memoryStorage`, `levelStorage`, `rocksdbStorage` engines), the MVCC state machine
 * (`MvccStore`), the node driver (`RaftNode`), the transports (`TcpTransport`, `HttpTransport`,
 * `InProcessNetwork`), metrics (`Metrics`) and the error classes.
 *
 * @module
 */
export * from './errors.js'
export * from './raft/index.js'
export * from './storage/index.js'
export * from './kv/index.js'
export { createNode } from './node/create-node.js'
export type {
  CreateNodeOptions,
  MetastoreNode,
  Kv,
  KeyValue as KvEntry,
  ValueCodec,
  ReadOptions,
  RangeOptions,
  RangeResponse,
  PutOptions,
  KeySelector,
  TxnCompare,
  TxnRequestOp,
  TxnResponseOp,
  WatchOptions,
  WatchBatch,
  NodeStatus,
  MemberChangeOptions,
} from './node/create-node.js'
export type { Member, MemberAddresses } from './node/membership.js'
export { RaftNode } from './node/raft-node.js'
export { KvStateMachine, requestIdOf } from './node/kv-state-machine.js'
export type { RaftNodeOptions, RaftNodeEvents, RaftTuning, PeerSpec } from './node/raft-node.js'
export type { StateMachine, AppliedRequest } from './node/state-machine.js'
export type { Transport, TransportHandler } from '../transports/transport.js'
export { TcpTransport, parseAddress } from '../transports/tcp.js'
export type { TcpTransportOptions, TcpTlsOptions, TcpAddress } from '../transports/tcp.js'
export { encodeBatch, decodeBatch, WIRE_VERSION } from '../transports/wire.js'
export { HttpTransport } from '../transports/http.js'
export type { HttpTransportOptions, HttpTlsOptions } from '../transports/http.js'
export { SnapshotRefusedError } from '../transports/snapshot-stream.js'
export { InProcessNetwork } from '../transports/inprocess.js'
export type { InProcessNetworkOptions } from '../transports/inprocess.js'
export { Metrics, Counter, Gauge, Histogram } from './metrics.js'
export type { Clock } from './clock.js'
export { realTimeClock } from './clock.js'
