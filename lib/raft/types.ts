/**
 * The data types the Raft core speaks. They are plain objects so that any codec (msgpackr on the
 * wire, on disk) can carry them unchanged.
 *
 * @module
 */

/** A node id. `0` means "none" (no vote, no known leader). Ids are positive safe integers. */
export type NodeId = number

/** No node: used for "voted for nobody" and "leader unknown". */
export const NONE: NodeId = 0

export enum EntryType {
  /** An application command (or an empty entry appended by a new leader: `data.length === 0`). */
  Normal = 0,
  /** A membership change; `data` is an encoded {@link ConfChange}. */
  ConfChange = 1,
}

/** One entry of the replicated log. */
export interface Entry {
  readonly term: number
  readonly index: number
  readonly type: EntryType
  readonly data: Uint8Array
}

/** What must survive a crash besides the log (Raft §5.2, Figure 2 "persistent state"). */
export interface HardState {
  readonly term: number
  readonly vote: NodeId
  readonly commit: number
}

/**
 * The membership of the cluster. During a joint configuration (Raft §6) `votersOutgoing` holds the
 * old voters; decisions need a majority of both `voters` and `votersOutgoing`.
 */
export interface ConfState {
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
  /** Voters of the outgoing configuration; empty unless joint. */
  readonly votersOutgoing: readonly NodeId[]
  /** Voters that become learners when the joint configuration is left. */
  readonly learnersNext: readonly NodeId[]
  /** Leave the joint configuration automatically once it is committed. */
  readonly autoLeave: boolean
}

export interface SnapshotMetadata {
  readonly index: number
  readonly term: number
  readonly confState: ConfState
}

/** A point-in-time image of the state machine, standing in for every entry up to `metadata.index`. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata
  readonly data: Uint8Array
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode'

export interface ConfChangeSingle {
  readonly type: ConfChangeType
  readonly nodeId: NodeId
}

/**
 * A membership change. One change is applied directly (one change at a time is safe: any two
 * majorities of configurations that differ by one voter overlap). Several changes at once go
 * through a joint configuration.
 *
 * - `auto` (default): simple when possible, else joint, left automatically.
 * - `joint-implicit`: joint, left automatically once committed.
 * - `joint-explicit`: joint, left only by proposing an empty ConfChange.
 */
export interface ConfChange {
  readonly transition?: 'auto' | 'joint-implicit' | 'joint-explicit'
  readonly changes: readonly ConfChangeSingle[]
  /** Opaque bytes for the application (e.g. the new member's address). */
  readonly context?: Uint8Array
}

export enum MessageType {
  // Local messages: never sent over the network.
  Hup = 0,
  Beat = 1,
  Propose = 2,
  Unreachable = 3,
  SnapStatus = 4,
  CheckQuorum = 5,
  // Messages between nodes.
  App = 10,
  AppResp = 11,
  Vote = 12,
  VoteResp = 13,
  PreVote = 14,
  PreVoteResp = 15,
  Snap = 16,
  Heartbeat = 17,
  HeartbeatResp = 18,
  TransferLeader = 19,
  TimeoutNow = 20,
  ReadIndex = 21,
  ReadIndexResp = 22,
  /** A proposal forwarded from a follower to the leader (`entries` holds it). */
  Forward = 23,
}

/** A Raft message. Fields not used by a type are left at their zero values. */
export interface Message {
  readonly type: MessageType
  readonly to: NodeId
  readonly from: NodeId
  readonly term: number
  /** App: term of the entry at `index`. Vote: term of the candidate's last entry. */
  readonly logTerm: number
  /** App: index preceding `entries`. AppResp: last index matched or rejected. Vote: last index. */
  readonly index: number
  readonly entries: readonly Entry[]
  readonly commit: number
  readonly reject: boolean
  /** AppResp reject: the follower's hint of where the logs may match (Raft §5.3 optimisation). */
  readonly rejectHint: number
  readonly snapshot?: Snapshot
  /** Opaque: the ReadIndex request id, or the campaign kind for a vote after a transfer. */
  readonly context?: Uint8Array
}

/** A linearizable read may be served once `index` is applied (Raft §8 ReadIndex). */
export interface ReadState {
  readonly index: number
  readonly context: Uint8Array
}

/** The role a node plays at a moment. */
export type StateRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/** Volatile state the application may want to observe; it need not be persisted. */
export interface SoftState {
  readonly leader: NodeId
  readonly role: StateRole
}

/** A message is complete enough to build with only some fields set; the rest default. */
export type MessageInit = Partial<Message> & Pick<Message, 'type'>

export function makeMessage(init: MessageInit): Message {
  return {
    to: NONE,
    from: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: EMPTY_ENTRIES,
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...init,
  }
}

export const EMPTY_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[]
export const EMPTY_DATA: Uint8Array = new Uint8Array(0)

export function isLocalMessage(type: MessageType): boolean {
  return type < 10
}

export function isResponseMessage(type: MessageType): boolean {
  return (
    type === MessageType.AppResp ||
    type === MessageType.VoteResp ||
    type === MessageType.PreVoteResp ||
    type === MessageType.HeartbeatResp ||
    type === MessageType.Unreachable
  )
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false }
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

/** The byte size the flow control counts for an entry (data plus a fixed header). */
export function entrySize(e: Entry): number {
  return e.data.length + 24
}
