/**
 * The replicated state machine of the KV (etcd v3 semantics): commands, their codec, the MVCC
 * store, and what it answers.
 *
 * @module
 */
export * from './commands.js'
export * from './results.js'
export * from './errors.js'
export { encodeEnvelope, decodeEnvelope, validateEnvelope, validateRange } from './codec.js'
export { prefixEnd, NO_END, inRange } from './key-range.js'
export { MvccStore } from './mvcc-store.js'
export type { MvccStoreOptions, CommitOptions, ApplyOptions, AppliedBatch, EventsOptions, LeaseInfo, KvSnapshot } from './mvcc-store.js'
export type { CommittedEntry, PreparedBatch } from './apply-batch.js'
export type { SnapshotHeader } from './snapshot-stream.js'
