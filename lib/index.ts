/**
 * metastore: an embeddable, strongly consistent, replicated key-value store for Node.js.
 *
 * This entry point exposes the building blocks the replicated KV (`createNode()`, to come) is made
 * of: the pure Raft core (`RawNode`), durable storage on abstract-level (`LevelLogStore` and the
 * `memoryStorage`, `levelStorage`, `rocksdbStorage` engines), the MVCC state machine
 * (`MvccStore`), the node driver (`RaftNode`), and the error classes.
 *
 * @module
 */
export * from './errors.js'
export * from './raft/index.js'
export * from './storage/index.js'
export * from './kv/index.js'
export { RaftNode } from './node/raft-node.js'
export { KvStateMachine, requestIdOf } from './node/kv-state-machine.js'
export type { RaftNodeOptions, RaftNodeEvents, RaftTuning } from './node/raft-node.js'
export type { StateMachine, AppliedRequest } from './node/state-machine.js'
export type { Transport, TransportHandler } from '../transports/transport.js'
