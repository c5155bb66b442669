import { encodeConfChange } from './conf-change-codec.js'
import { Raft, uncommittedBytes, type RaftConfig, type StepResult } from './raft.js'
import type { ProgressState } from './tracker/progress.js'
import {
  EntryType,
  hardStateEqual,
  isLocalMessage,
  isResponseMessage,
  makeMessage,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
} from './types.js'

/**
 * Everything the driver must do after a batch of input, in this order:
 *
 * 1. Persist `hardState`, `entries` and `snapshot` durably (fsync) if `mustSync`, in one atomic
 *    write. Entries may overwrite a suffix of the stored log.
 * 2. Only then send `messages`: votes and append acknowledgements promise that what they
 *    acknowledge is on disk.
 * 3. Apply `snapshot` (if any), then `committedEntries`, in order, exactly once; call
 *    {@link RawNode.applyConfChange} for each ConfChange entry as it is applied.
 * 4. Serve `readStates` once the applied index reaches their index.
 * 5. Call {@link RawNode.advance}.
 */
export interface Ready {
  /** Present when leader or role changed. Volatile: need not be persisted. */
  readonly softState?: SoftState
  /** Present when term, vote or commit changed. Persist BEFORE sending messages. */
  readonly hardState?: HardState
  /** Entries to append to stable storage BEFORE messages are sent. */
  readonly entries: readonly Entry[]
  /** A snapshot from the leader to persist (replacing the log) and apply. */
  readonly snapshot?: Snapshot
  /**
   * Committed entries to apply to the state machine, in order. They have been persisted
   * (possibly by `entries` of this same Ready, which must therefore be written first).
   */
  readonly committedEntries: readonly Entry[]
  /** Messages to send AFTER the above is durable. */
  readonly messages: readonly Message[]
  /** Linearizable reads that may be served once the applied index reaches `index`. */
  readonly readStates: readonly ReadState[]
  /** Whether the write of step 1 must be synced (term, vote or entries changed). */
  readonly mustSync: boolean
}

/** A follower's replication progress, as seen by the leader. */
export interface ProgressStatus {
  readonly match: number
  readonly next: number
  readonly state: ProgressState
  readonly isLearner: boolean
  readonly recentActive: boolean
  readonly inflight: number
}

export interface RaftStatus {
  readonly id: NodeId
  readonly term: number
  readonly vote: NodeId
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly role: StateRole
  readonly leader: NodeId
  readonly leadTransferee: NodeId
  readonly config: ConfState
  /** Only on the leader: each member's progress. */
  readonly progress?: ReadonlyMap<NodeId, ProgressStatus>
}

/**
 * The thread-safe-by-construction interface to the core (there are no threads: the driver calls
 * it from one loop). It wraps {@link Raft} with the Ready/advance handshake.
 *
 * @example
 * ```ts
 * const node = new RawNode({ id: 1, storage, rng: new SeededRng(1) })
 * // on each tick of the driver's timer:
 * node.tick()
 * // on each message from the network:
 * node.step(message)
 * // then, in the driver's loop:
 * while (node.hasReady()) {
 *   const rd = node.ready()
 *   await persist(rd.hardState, rd.entries, rd.snapshot)
 *   send(rd.messages)
 *   apply(rd.committedEntries)
 *   node.advance()
 * }
 * ```
 */
export class RawNode {
  readonly raft: Raft
  #prevSoftState: SoftState
  #prevHardState: HardState
  /** What the outstanding Ready handed out, to be marked done by advance(). */
  #pending:
    | {
        readonly lastEntry?: { index: number; term: number }
        readonly snapshotIndex?: number
        readonly lastCommitted?: number
        readonly committedBytes: number
      }
    | undefined

  constructor(config: RaftConfig) {
    this.raft = new Raft(config)
    this.#prevSoftState = this.raft.softState()
    this.#prevHardState = this.raft.hardState()
  }

  /** Advances logical time by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick()
  }

  /** Starts an election now (skipping the randomized timeout). */
  campaign(): StepResult {
    return this.raft.step(makeMessage({ type: MessageType.Hup, from: this.raft.id }))
  }

  /** Forgets a follower's leader (see {@link Raft.forgetLeader}); the caller may then {@link campaign}. */
  forgetLeader(): boolean {
    return this.raft.forgetLeader()
  }

  /** Proposes data to append to the log. The outcome is learned when it is applied (or not). */
  propose(data: Uint8Array): StepResult {
    return this.raft.step(
      makeMessage({ type: MessageType.Propose, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }),
    )
  }

  /** Proposes a batch of commands as consecutive entries (one append, one fsync). */
  proposeBatch(data: readonly Uint8Array[]): StepResult {
    if (data.length === 0) return 'ok'
    const entries = data.map((d): Entry => ({ term: 0, index: 0, type: EntryType.Normal, data: d }))
    return this.raft.step(makeMessage({ type: MessageType.Propose, from: this.raft.id, entries }))
  }

  /** Proposes a membership change. It takes effect when applied ({@link applyConfChange}). */
  proposeConfChange(cc: ConfChange): StepResult {
    const data = encodeConfChange(cc)
    return this.raft.step(
      makeMessage({ type: MessageType.Propose, from: this.raft.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data }] }),
    )
  }

  /** Applies a committed membership change; call it when the ConfChange entry is applied. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc)
  }

  /** Feeds a message received from a peer. Local message types are refused. */
  step(m: Message): StepResult {
    if (isLocalMessage(m.type)) throw new TypeError(`raft: cannot step raft local message ${MessageType[m.type]}`)
    // A response from a node we do not know is meaningless; ignore it rather than create state.
    if (isResponseMessage(m.type) && !this.raft.trk.progress.has(m.from)) return 'ok'
    return this.raft.step(m)
  }

  /**
   * Requests a linearizable read. When it is confirmed, a ReadState with this `context` (which
   * should be unique) appears in a Ready; the read may be served once that index is applied.
   */
  readIndex(context: Uint8Array): StepResult {
    if (!(context instanceof Uint8Array) || context.length === 0) throw new TypeError('readIndex needs a non-empty context')
    return this.raft.step(makeMessage({ type: MessageType.ReadIndex, context }))
  }

  /** Asks the leader to hand leadership to `transferee` (which must be a voter). */
  transferLeadership(transferee: NodeId): StepResult {
    return this.raft.step(makeMessage({ type: MessageType.TransferLeader, from: transferee }))
  }

  /** The driver could not deliver a message to `id`. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: MessageType.Unreachable, from: id }))
  }

  /** The driver finished (or failed) sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(makeMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }))
  }

  /** Whether a Ready is waiting (always false while one is handed out and not yet advanced). */
  hasReady(): boolean {
    if (this.#pending !== undefined) return false
    const r = this.raft
    const ss = r.softState()
    if (ss.leader !== this.#prevSoftState.leader || ss.role !== this.#prevSoftState.role) return true
    const hs = r.hardState()
    if (!hardStateEqual(hs, this.#prevHardState)) return true
    if (r.log.hasPendingSnapshot()) return true
    if (r.msgs.length > 0 || r.log.unstableEntries().length > 0 || r.readStates.length > 0) return true
    return r.log.hasNextCommittedEntries()
  }

  /**
   * Collects what the driver must do. Call {@link advance} once it is done before calling
   * ready() again.
   */
  ready(): Ready {
    if (this.#pending !== undefined) throw new Error('ready() called again before advance()')
    const r = this.raft
    const entries = r.log.unstableEntries().slice()
    const committedEntries = r.log.nextCommittedEntries()
    const ss = r.softState()
    const hs = r.hardState()
    const softChanged = ss.leader !== this.#prevSoftState.leader || ss.role !== this.#prevSoftState.role
    const hardChanged = !hardStateEqual(hs, this.#prevHardState)
    const snapshot = r.log.unstable.snapshot
    const messages = r.msgs
    const readStates = r.readStates
    r.msgs = []
    r.readStates = []
    const mustSync = entries.length > 0 || hs.term !== this.#prevHardState.term || hs.vote !== this.#prevHardState.vote
    if (softChanged) this.#prevSoftState = ss
    if (hardChanged) this.#prevHardState = hs
    const committedBytes = uncommittedBytes(committedEntries)
    const last = entries.length > 0 ? entries[entries.length - 1] : undefined
    this.#pending = {
      lastEntry: last ? { index: last.index, term: last.term } : undefined,
      snapshotIndex: snapshot?.metadata.index,
      lastCommitted: committedEntries.length > 0 ? committedEntries[committedEntries.length - 1].index : undefined,
      committedBytes,
    }
    if (this.#pending.lastCommitted !== undefined) r.log.acceptApplying(this.#pending.lastCommitted)
    return {
      ...(softChanged ? { softState: ss } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      entries,
      ...(snapshot ? { snapshot } : {}),
      committedEntries,
      messages,
      readStates,
      mustSync,
    }
  }

  /** The driver persisted, sent and applied the last Ready. */
  advance(): void {
    const p = this.#pending
    if (p === undefined) throw new Error('advance() called without a ready()')
    this.#pending = undefined
    const r = this.raft
    if (p.lastEntry) r.log.stableTo(p.lastEntry.index, p.lastEntry.term)
    if (p.snapshotIndex !== undefined) {
      r.log.stableSnapTo(p.snapshotIndex)
      // The snapshot was applied: it is the new applied index.
      if (p.snapshotIndex > r.log.applied) r.log.appliedTo(p.snapshotIndex)
    }
    if (p.lastCommitted !== undefined) r.appliedTo(p.lastCommitted, p.committedBytes)
    if (p.lastEntry) r.onStable()
  }

  /** Whether a ready() has been handed out and not yet advanced. */
  get awaitingAdvance(): boolean {
    return this.#pending !== undefined
  }

  status(): RaftStatus {
    const r = this.raft
    let progress: Map<NodeId, ProgressStatus> | undefined
    if (r.state === 'leader') {
      progress = new Map()
      r.trk.visit((id, pr) => {
        progress!.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count,
        })
      })
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      role: r.state,
      leader: r.lead,
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
      ...(progress ? { progress } : {}),
    }
  }

  get id(): NodeId {
    return this.raft.id
  }

  /**
   * The snapshot Raft took from a leader and has not yet seen made stable (it is handed out by
   * {@link ready} and stays here until the {@link advance} after that), or undefined.
   */
  get pendingSnapshot(): Snapshot | undefined {
    return this.raft.log.unstable.snapshot
  }

  /** The leader this node knows of, or 0. */
  get leader(): NodeId {
    return this.raft.lead
  }
}
