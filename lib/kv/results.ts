/**
 * What the state machine answers: results of commands, key-values, watch events. Plain data,
 * shaped like etcd's responses, so that a result can be kept in the dedup table and sent as is.
 *
 * @module
 */
import type { CommandError } from './errors.js'

/** A key at some revision (etcd's `mvccpb.KeyValue`). */
export interface KeyValue {
  readonly key: Uint8Array
  readonly value: Uint8Array
  /** The revision of the last creation of the key (0 in a deletion event). */
  readonly createRevision: number
  /** The revision of the last modification (of the deletion, in a deletion event). */
  readonly modRevision: number
  /** Number of puts since the key was (re)created: 1 after creation, 0 in a deletion event. */
  readonly version: number
  /** The lease the key is attached to, or 0. */
  readonly lease: number
}

/** etcd's `RangeResponse`. */
export interface RangeResult {
  readonly kvs: KeyValue[]
  /** Keys in the range at the revision read, regardless of `limit` (and, as in etcd, of the min/max filters). */
  readonly count: number
  /** Whether `limit` left keys out. */
  readonly more: boolean
  /** The store's current revision (etcd's header revision), not the revision read at. */
  readonly revision: number
}

/** etcd's `PutResponse`. */
export interface PutResult {
  readonly type: 'put'
  /** The revision of this put. */
  readonly revision: number
  /** The key before the put, when asked for with `prevKv` and the key existed. */
  readonly prevKv?: KeyValue
}

/** etcd's `DeleteRangeResponse`. */
export interface DeleteRangeResult {
  readonly type: 'deleteRange'
  /** The revision of the deletion, or the current revision when nothing was deleted. */
  readonly revision: number
  readonly deleted: number
  /** The deleted key-values, when asked for with `prevKv`. */
  readonly prevKvs?: KeyValue[]
}

/** A range's result as a command or txn operation result. */
export interface RangeOpResult extends RangeResult {
  readonly type: 'range'
}

/** The result of one operation of a transaction. */
export type TxnOpResult = PutResult | DeleteRangeResult | RangeOpResult

/** etcd's `TxnResponse`. */
export interface TxnResult {
  readonly type: 'txn'
  /** The revision of the transaction's writes, or the current revision if it wrote nothing. */
  readonly revision: number
  readonly succeeded: boolean
  readonly responses: TxnOpResult[]
}

/** etcd's `CompactionResponse`, with the new compact revision. */
export interface CompactResult {
  readonly type: 'compact'
  readonly revision: number
  readonly compactRevision: number
}

/** etcd's `LeaseGrantResponse`. */
export interface LeaseGrantResult {
  readonly type: 'leaseGrant'
  readonly revision: number
  readonly id: number
  readonly ttlSeconds: number
}

/** etcd's `LeaseRevokeResponse`, with the number of keys deleted. */
export interface LeaseRevokeResult {
  readonly type: 'leaseRevoke'
  /** The revision of the deletion of the attached keys, or the current one if there were none. */
  readonly revision: number
  readonly deleted: number
}

/** etcd's `LeaseCheckpointResponse`. */
export interface LeaseCheckpointResult {
  readonly type: 'leaseCheckpoint'
  readonly revision: number
}

/** The result of expiring leases. */
export interface LeaseExpireResult {
  readonly type: 'leaseExpire'
  readonly revision: number
  /** The leases that existed and were expired, in order. */
  readonly expired: number[]
}

/** An entry without a command (an empty entry of a new leader, a membership change). */
export interface NoopResult {
  readonly type: 'noop'
  readonly revision: number
}

/** A command that failed and changed nothing. */
export interface ErrorResult {
  readonly type: 'error'
  readonly revision: number
  readonly error: CommandError
}

/** The result of one command. */
export type CommandResult =
  | PutResult
  | DeleteRangeResult
  | TxnResult
  | RangeOpResult
  | CompactResult
  | LeaseGrantResult
  | LeaseRevokeResult
  | LeaseCheckpointResult
  | LeaseExpireResult
  | NoopResult
  | ErrorResult

/** The answer for one applied log entry. */
export interface ApplyResult {
  readonly index: number
  /** The envelope's client and sequence (empty and 0 for an entry without a command). */
  readonly clientId: string
  readonly seq: number
  /** Whether this is a retry answered from the dedup table (nothing was applied). */
  readonly duplicate: boolean
  readonly result: CommandResult
}

/** One change seen by a watcher (etcd's `mvccpb.Event`). */
export interface WatchEvent {
  readonly type: 'put' | 'delete'
  /** For a deletion: the key, `modRevision` = the deletion's revision, every other field zero. */
  readonly kv: KeyValue
  /** The key before this change, when it existed (and, for replayed history, when asked for). */
  readonly prevKv?: KeyValue
}

/** All events of one revision, in sub-revision order: they are delivered together or not at all. */
export interface RevisionEvents {
  readonly revision: number
  readonly events: WatchEvent[]
}
