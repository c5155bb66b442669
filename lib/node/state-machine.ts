import type { ConfState, Entry, Snapshot } from '../raft/types.js'
import type { MemberAddresses } from './membership.js'

/** What a state machine reports it applied for one entry. */
export interface AppliedRequest {
  /** The id the proposer gave (see {@link RaftNode.propose}); undefined for entries nobody waits on. */
  readonly requestId?: string
  readonly result?: unknown
}

/**
 * The replicated state machine the driver feeds with committed entries. It owns the durable
 * applied index, and the membership at that index, so that both are written atomically with the
 * effects of the entries (DESIGN rule 2): a restart resumes exactly where the disk says.
 */
export interface StateMachine {
  /**
   * Where to resume: the last applied index and the membership at it (with the members'
   * addresses, when the state machine keeps them), as they are on disk.
   */
  open(): Promise<{ appliedIndex: number; confState: ConfState | undefined; addresses?: MemberAddresses }>
  /**
   * Applies committed entries, in order, each exactly once; `entries[0].index` is the applied
   * index + 1. Entries of type ConfChange and empty entries carry nothing to apply but advance the
   * applied index. `confState` is the membership after the last of them. The effects, the new
   * applied index and `confState` must be made durable in one atomic write (it need not be
   * synced: the log is, and replays). The promise resolves once the effects are seen by reads
   * through the state machine: before the write lands if the state machine has {@link flushed},
   * else after it. `addresses` are the members' addresses after the entries; a state machine that
   * keeps them writes them in the same write and puts them in its snapshots. Returns one item per
   * entry.
   */
  apply(entries: readonly Entry[], confState: ConfState, addresses?: MemberAddresses): Promise<ReadonlyArray<AppliedRequest | undefined>>
  /**
   * Settles when every batch applied so far is written; rejects if one of those writes failed
   * (the state machine then refuses further calls, and a restart replays the log). The driver
   * waits for it before it compacts the log up to the applied index.
   */
  flushed?(): Promise<void>
  /** The state as of the applied index, for a Raft snapshot. */
  snapshot(): Promise<Uint8Array>
  /**
   * Replaces the state by a snapshot's, atomically (a crash leaves the old or the new state).
   * Returns the members' addresses the snapshot carried, if it keeps them.
   *
   * The data comes from {@link snapshot} on the sender at the moment it was sent, which may be
   * past `snapshot.metadata.index`: the driver then applies the entries after that index again,
   * and the state machine must skip (or idempotently re-apply) the ones its state holds already.
   * `open()` after a restore reports `snapshot.metadata.index` as the applied index.
   */
  restore(snapshot: Snapshot): Promise<{ addresses?: MemberAddresses } | void>
  /**
   * Optional, with {@link stage} and {@link discardStaged}: snapshots streamed chunk by chunk
   * instead of {@link snapshot}'s one buffer (used when the transport streams too). The state as
   * of the applied index when it is called, as chunks for the follower's {@link stage}.
   */
  snapshotStream?(): AsyncIterable<Uint8Array>
  /**
   * Writes a {@link snapshotStream} beside the live state, durably, without changing the live
   * state, and returns small data that names it. The driver hands that data to Raft as the
   * snapshot's data; {@link restore} then receives it and makes the staged state live. What is
   * staged survives a restart until restored or discarded; staging again replaces it.
   */
  stage?(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array>
  /** Drops what {@link stage} wrote (only the one `data` names, when given), if not restored. */
  discardStaged?(data?: Uint8Array): Promise<void>
}
