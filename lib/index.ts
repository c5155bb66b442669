/**
 * metastore: an embeddable, strongly consistent, replicated key-value store for Node.js.
 *
 * This entry point exposes the error classes and the pure Raft core (`RawNode` and its types),
 * on which the replicated KV (`createNode()`) is built.
 *
 * @module
 */
export * from './errors.js'
export * from './raft/index.js'
