import type { ConfState, Entry, HardState, Snapshot } from './types.js'

/**
 * Why a {@link RaftStorage} call could not answer. The core reacts to each: `COMPACTED` makes the
 * leader send a snapshot; `UNAVAILABLE` means "not in memory yet, ask again later" (a storage may
 * load old entries from disk in the background); `SNAPSHOT_TEMPORARILY_UNAVAILABLE` means a snapshot
 * is being made.
 */
export type RaftStorageErrorCode = 'COMPACTED' | 'UNAVAILABLE' | 'SNAPSHOT_TEMPORARILY_UNAVAILABLE'

/** Thrown by {@link RaftStorage} methods; the core catches it, it never reaches a user. */
export class RaftStorageError extends Error {
  readonly code: RaftStorageErrorCode
  constructor(code: RaftStorageErrorCode, message?: string) {
    super(message ?? code)
    this.name = 'RaftStorageError'
    this.code = code
  }
}

/**
 * The core's synchronous view of the stable log: everything the driver has persisted and handed
 * back. It mirrors etcd-io/raft's Storage interface. The driver writes (asynchronously, to disk)
 * and then updates this view; the core only reads it.
 *
 * Invariant: firstIndex() - 1 is the index of the last snapshot (or 0); term(firstIndex() - 1)
 * answers without throwing.
 */
export interface RaftStorage {
  /** The hard state and membership persisted at the last shutdown. */
  initialState(): { hardState: HardState; confState: ConfState }
  /**
   * Entries in [lo, hi), at least one if any is in range, then as many as fit in `maxBytes`.
   * Throws COMPACTED if lo <= the snapshot index, UNAVAILABLE if they are not in memory now.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[]
  /** The term of entry `index`, for index in [firstIndex() - 1, lastIndex()]. */
  term(index: number): number
  /** The index of the first entry that is still available (snapshot index + 1). */
  firstIndex(): number
  lastIndex(): number
  /** The most recent snapshot. */
  snapshot(): Snapshot
}
