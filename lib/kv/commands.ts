/**
 * The commands that travel in the Raft log, as plain objects (encoded by `codec.ts`). They follow
 * etcd v3's requests field by field where etcd has one; keys and values are bytes (the node layer
 * encodes user values before they get here).
 *
 * @module
 */

/** How `range` sorts its result. `none` keeps key order (unless `sortTarget` is not `key`, see etcd). */
export type SortOrder = 'none' | 'ascend' | 'descend'

/** What `range` sorts by. */
export type SortTarget = 'key' | 'version' | 'createRevision' | 'modRevision' | 'value'

/**
 * A range read (etcd's `RangeRequest`). Allowed at the top level (a read through the log) and
 * inside a transaction; outside the log, `MvccStore.range()` takes the same object.
 */
export interface RangeCommand {
  readonly type: 'range'
  readonly key: Uint8Array
  /** See `key-range.ts`: undefined = the single key, `"\0"` = every key `>= key`. */
  readonly rangeEnd?: Uint8Array
  /** The revision to read at; 0 or undefined = the current revision. */
  readonly revision?: number
  /** At most this many keys (0 or undefined = no limit); `more` tells whether there were more. */
  readonly limit?: number
  readonly keysOnly?: boolean
  /** Only `count` (the number of keys in the range) is returned. */
  readonly countOnly?: boolean
  readonly sortOrder?: SortOrder
  readonly sortTarget?: SortTarget
  /** Filters on the returned keys. NB: as in etcd, `count` does not reflect them. */
  readonly minModRevision?: number
  readonly maxModRevision?: number
  readonly minCreateRevision?: number
  readonly maxCreateRevision?: number
}

/** Sets a key (etcd's `PutRequest`). Always creates a new revision, even for the same value. */
export interface PutCommand {
  readonly type: 'put'
  readonly key: Uint8Array
  /** Required unless `ignoreValue`. */
  readonly value?: Uint8Array
  /** Attach the key to this lease (0 or undefined: no lease; a previous lease is detached). */
  readonly lease?: number
  /** Return the previous key-value in the result. */
  readonly prevKv?: boolean
  /** Keep the current value (the key must exist); `value` must then be absent. */
  readonly ignoreValue?: boolean
  /** Keep the current lease (the key must exist); `lease` must then be absent. */
  readonly ignoreLease?: boolean
}

/** Deletes a key or a range (etcd's `DeleteRangeRequest`). Deleting nothing creates no revision. */
export interface DeleteRangeCommand {
  readonly type: 'deleteRange'
  readonly key: Uint8Array
  readonly rangeEnd?: Uint8Array
  /** Return the deleted key-values in the result (`prevKvs`). */
  readonly prevKv?: boolean
}

/** What a compare looks at; `createRevision` and `modRevision` are etcd's CREATE and MOD. */
export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease'

/** How a compare compares the key's field (left) with the given one (right). */
export type CompareResult = '=' | '!=' | '<' | '>'

/**
 * A transaction guard (etcd's `Compare`). With `rangeEnd`, every key of the range must pass.
 * A missing key compares as zero (version 0, revisions 0, lease 0), except that a `value`
 * compare on a missing key always fails, as in etcd.
 */
export type Compare =
  | {
      readonly key: Uint8Array
      readonly rangeEnd?: Uint8Array
      readonly target: 'value'
      readonly result: CompareResult
      readonly value: Uint8Array
    }
  | {
      readonly key: Uint8Array
      readonly rangeEnd?: Uint8Array
      readonly target: 'version' | 'createRevision' | 'modRevision' | 'lease'
      readonly result: CompareResult
      readonly value: number
    }

/** One operation of a transaction. */
export type TxnOp = PutCommand | DeleteRangeCommand | RangeCommand

/**
 * An etcd transaction: if every compare holds, the `success` operations run, else `failure`;
 * all writes of the branch share one revision (with sub-revisions in order). Within a branch a
 * key may be written only once (etcd's "duplicate key given in txn request").
 */
export interface TxnCommand {
  readonly type: 'txn'
  readonly compare: readonly Compare[]
  readonly success: readonly TxnOp[]
  readonly failure: readonly TxnOp[]
}

/** Discards history before `revision` (etcd's `CompactionRequest`). Creates no revision. */
export interface CompactCommand {
  readonly type: 'compact'
  readonly revision: number
}

/** Grants a lease. The id is chosen by the proposer (the leader), positive and unused. */
export interface LeaseGrantCommand {
  readonly type: 'leaseGrant'
  readonly id: number
  readonly ttlSeconds: number
}

/** Revokes a lease and deletes every key attached to it, in one revision. */
export interface LeaseRevokeCommand {
  readonly type: 'leaseRevoke'
  readonly id: number
}

/**
 * Records how much of each lease's TTL was left, so that a new leader resumes the countdown
 * instead of granting a full TTL again (etcd#9395). A keep-alive checkpoints the full TTL.
 * Leases that no longer exist are skipped.
 */
export interface LeaseCheckpointCommand {
  readonly type: 'leaseCheckpoint'
  readonly checkpoints: ReadonlyArray<{ readonly id: number; readonly remainingTtlMs: number }>
}

/**
 * Expires leases the leader found due: each is revoked as by {@link LeaseRevokeCommand}, each in
 * its own revision, in the order given. Leases already gone are skipped.
 */
export interface LeaseExpireCommand {
  readonly type: 'leaseExpire'
  readonly ids: readonly number[]
}

/** Every command the state machine applies. */
export type Command =
  | PutCommand
  | DeleteRangeCommand
  | TxnCommand
  | RangeCommand
  | CompactCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand
  | LeaseCheckpointCommand
  | LeaseExpireCommand

/**
 * A command as proposed: `(clientId, seq)` make it exactly-once. A retry of the same pair (after
 * a leader change, say) is answered from the dedup table without being applied again. Sequence
 * numbers of one client must grow; an empty `clientId` opts out of deduplication (for commands
 * that are safe to apply twice, e.g. lease checkpoints).
 */
export interface Envelope {
  readonly clientId: string
  readonly seq: number
  readonly cmd: Command
}
