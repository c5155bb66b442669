import { Changer, ConfChangeError } from './confchange/confchange.js'
import { restoreConfig } from './confchange/restore.js'
import { decodeConfChange, encodeConfChange, isLeaveJoint, jointMode } from './conf-change-codec.js'
import { RaftLog } from './log.js'
import { silentLogger, type RaftLogger } from './logger.js'
import { VoteResult } from './quorum/quorum.js'
import { ReadOnly, type ReadOnlyOption } from './read-only.js'
import type { Rng } from './rng.js'
import { stepCandidate } from './step-candidate.js'
import { stepFollower } from './step-follower.js'
import { releasePendingReadIndexMessages, stepLeader } from './step-leader.js'
import { RaftStorageError, type RaftStorage } from './storage.js'
import { Inflights } from './tracker/inflights.js'
import { Progress } from './tracker/progress.js'
import { emptyTrackerConfig, ProgressTracker, type ProgressMap, type TrackerConfig } from './tracker/tracker.js'
import {
  EMPTY_DATA,
  EntryType,
  makeMessage,
  MessageType,
  NONE,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageInit,
  type NodeId,
  type ReadState,
  type Snapshot,
  type SoftState,
  type StateRole,
} from './types.js'

/** Tuning of one Raft node. Times are counted in ticks: the driver decides how long a tick is. */
export interface RaftConfig {
  /** This node's id, a positive safe integer. */
  readonly id: NodeId
  /**
   * Ticks without hearing a leader before a follower campaigns. The actual timeout is drawn at
   * random from [electionTick, 2 * electionTick) at every reset (Raft §5.2). Default 10.
   */
  readonly electionTick?: number
  /** Ticks between heartbeats of a leader. Must be less than electionTick. Default 1. */
  readonly heartbeatTick?: number
  readonly storage: RaftStorage
  /** The last index the application has applied, when restarting. Default: the snapshot index. */
  readonly applied?: number
  /** The most bytes of entries per append message (at least one entry is sent). Default 1 MiB. */
  readonly maxSizePerMsg?: number
  /** The most bytes of committed entries handed out per Ready. Default 64 MiB. */
  readonly maxCommittedSizePerReady?: number
  /**
   * The most bytes of proposals a leader holds uncommitted; proposals past it are dropped so
   * that a leader cut off from its followers does not grow without bound. Default 64 MiB.
   */
  readonly maxUncommittedEntriesSize?: number
  /** The most append messages in flight to one follower (pipelining window). Default 256. */
  readonly maxInflightMsgs?: number
  /** The most bytes of entries in flight to one follower. 0 means no byte limit. Default 0. */
  readonly maxInflightBytes?: number
  /** A leader steps down when it has not heard from a quorum within an election timeout. Default true. */
  readonly checkQuorum?: boolean
  /** Campaign first in a pre-vote round that does not raise terms (Raft thesis §9.6). Default true. */
  readonly preVote?: boolean
  /** How ReadIndex confirms leadership. Default `safe`. `lease-based` needs checkQuorum. */
  readonly readOnlyOption?: ReadOnlyOption
  /** Drop proposals on followers instead of forwarding them to the leader. Default false. */
  readonly disableProposalForwarding?: boolean
  /** The seeded random source for election timeouts. */
  readonly rng: Rng
  readonly logger?: RaftLogger
}

/** Campaign kinds. A transfer campaign is the only one that may disturb a live leader's lease. */
export type CampaignType = 'pre-election' | 'election' | 'transfer'

const CAMPAIGN_TRANSFER = new Uint8Array([0x74]) // 't'

/** What the core refused; the driver maps these to typed errors for its callers. */
export type StepResult = 'ok' | 'proposal-dropped' | 'not-leader'

export function voteRespType(t: MessageType): MessageType {
  return t === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
}

function payloadSize(ents: readonly Entry[]): number {
  let n = 0
  for (const e of ents) n += e.data.length
  return n
}

/**
 * The bytes a batch adds to the uncommitted bound. Only application data counts: membership
 * changes are small and rare, and the leader must always be able to append the entry that leaves
 * a joint configuration.
 */
export function uncommittedBytes(ents: readonly Entry[]): number {
  let n = 0
  for (const e of ents) if (e.type === EntryType.Normal) n += e.data.length
  return n
}

/**
 * Whether an append's entries follow its index without gaps, with terms that never decrease and
 * never pass the leader's, and a commit index that is a safe integer.
 */
export function wellFormedAppend(m: Message): boolean {
  if (!Number.isSafeInteger(m.index) || m.index < 0 || !Number.isSafeInteger(m.commit) || m.commit < 0) return false
  let prevTerm = m.logTerm
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]
    if (e.index !== m.index + 1 + i || e.term < prevTerm || e.term > m.term || !(e.data instanceof Uint8Array)) return false
    prevTerm = e.term
  }
  return true
}

/**
 * One Raft node's protocol state machine. Pure and deterministic: time arrives as {@link tick},
 * input as {@link step}, and output accumulates in `msgs`, `readStates` and the log's unstable
 * part, which {@link RawNode} hands to the driver in a Ready.
 *
 * The role-specific step functions live in step-leader.ts, step-candidate.ts and step-follower.ts;
 * they share this class's fields, which is why those are public (within the package).
 */
export class Raft {
  readonly id: NodeId
  term = 0
  vote: NodeId = NONE
  readStates: ReadState[] = []
  readonly log: RaftLog
  readonly maxMsgSize: number
  readonly maxUncommittedSize: number
  readonly trk: ProgressTracker
  state: StateRole = 'follower'
  /** Whether this node is a learner in the current configuration. */
  isLearner = false
  /** Messages to send once the Ready holding them is persisted. */
  msgs: Message[] = []
  lead: NodeId = NONE
  /** The target of a leadership transfer under way, or NONE. */
  leadTransferee: NodeId = NONE
  /**
   * Only one conf change may be pending (in the log, not yet applied): the index of the latest.
   * A new leader sets it to its last index, so it proposes none before applying everything from
   * earlier terms.
   */
  pendingConfIndex = 0
  /** Bytes of proposals appended by this leader and not yet applied. */
  uncommittedSize = 0
  readOnly: ReadOnly
  /**
   * Ticks since the last election timeout reset (leader: since the last check-quorum; follower:
   * since it last heard from a leader).
   */
  electionElapsed = 0
  /** Leader only: ticks since the last heartbeat. */
  heartbeatElapsed = 0
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly heartbeatTimeout: number
  readonly electionTimeout: number
  /** Drawn from [electionTimeout, 2 * electionTimeout) at each reset. */
  randomizedElectionTimeout = 0
  readonly disableProposalForwarding: boolean
  readonly rng: Rng
  readonly logger: RaftLogger
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = []
  tickFn: () => void
  stepFn: (r: Raft, m: Message) => StepResult

  constructor(c: RaftConfig) {
    const electionTick = c.electionTick ?? 10
    const heartbeatTick = c.heartbeatTick ?? 1
    if (!Number.isSafeInteger(c.id) || c.id <= 0) throw new TypeError('raft id must be a positive safe integer')
    if (!(heartbeatTick > 0)) throw new TypeError('heartbeatTick must be greater than 0')
    if (!(electionTick > heartbeatTick)) throw new TypeError('electionTick must be greater than heartbeatTick')
    const readOnlyOption = c.readOnlyOption ?? 'safe'
    const checkQuorum = c.checkQuorum ?? true
    if (readOnlyOption === 'lease-based' && !checkQuorum) {
      throw new TypeError('checkQuorum must be enabled when readOnlyOption is lease-based')
    }
    const maxInflight = c.maxInflightMsgs ?? 256
    if (!(maxInflight > 0)) throw new TypeError('maxInflightMsgs must be greater than 0')

    this.id = c.id
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReady ?? 64 * 1024 * 1024)
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024
    this.maxUncommittedSize = c.maxUncommittedEntriesSize ?? 64 * 1024 * 1024
    this.trk = new ProgressTracker(maxInflight, c.maxInflightBytes ?? 0)
    this.electionTimeout = electionTick
    this.heartbeatTimeout = heartbeatTick
    this.checkQuorum = checkQuorum
    this.preVote = c.preVote ?? true
    this.readOnly = new ReadOnly(readOnlyOption)
    this.disableProposalForwarding = c.disableProposalForwarding ?? false
    this.rng = c.rng
    this.logger = c.logger ?? silentLogger
    this.tickFn = () => this.tickElection()
    this.stepFn = stepFollower

    const { hardState, confState } = c.storage.initialState()
    const restored = restoreConfig(confState, this.log.lastIndex(), maxInflight, this.trk.maxInflightBytes, {
      config: emptyTrackerConfig(),
      progress: new Map(),
    })
    this.switchToConfig(restored.config, restored.progress)
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState)
    if (c.applied !== undefined && c.applied > 0) this.log.appliedTo(c.applied)
    this.becomeFollower(this.term, NONE)
    this.logger.info(
      `${this.id} newRaft [peers: [${this.trk.voterNodes().join(',')}], term: ${this.term}, commit: ${this.log.committed}, applied: ${this.log.applied}, lastindex: ${this.log.lastIndex()}, lastterm: ${this.log.lastTerm()}]`,
    )
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.state }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed }
  }

  loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new Error(`${this.id} state.commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`)
    }
    this.log.committed = hs.commit
    this.term = hs.term
    this.vote = hs.vote
  }

  /** Queues a message to send; fills in `from` and, for non-local messages, the term. */
  send(init: MessageInit): void {
    const type = init.type
    if (type === MessageType.Vote || type === MessageType.VoteResp || type === MessageType.PreVote || type === MessageType.PreVoteResp) {
      // Vote messages carry the term of the election (which for pre-votes is a future term), so
      // they set it explicitly.
      if (!init.term) throw new Error(`term should be set when sending ${MessageType[type]}`)
      this.msgs.push(makeMessage({ from: this.id, ...init }))
      return
    }
    if (init.term) throw new Error(`term should not be set when sending ${MessageType[type]} (was ${init.term})`)
    // Forwarded proposals and read requests travel without a term: they are not part of the
    // protocol between leader and follower and must not change anyone's term.
    const unterm = type === MessageType.Forward || type === MessageType.ReadIndex || type === MessageType.TransferLeader
    this.msgs.push(makeMessage({ from: this.id, ...init, term: unterm ? 0 : this.term }))
  }

  // --- Replication -------------------------------------------------------------------------

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true)
  }

  /**
   * Sends the entries `to` is missing, or a snapshot if they are compacted. Returns whether a
   * message was sent. With sendIfEmpty false, only sends when there are entries to carry.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to)
    if (!pr || pr.isPaused()) return false
    let prevTerm: number
    let ents: Entry[]
    try {
      prevTerm = this.log.term(pr.next - 1)
      ents = this.log.entries(pr.next, this.maxMsgSize)
    } catch (err) {
      if (!(err instanceof RaftStorageError)) throw err
      if (err.code === 'UNAVAILABLE') return false
      return this.maybeSendSnapshot(to, pr)
    }
    if (ents.length === 0 && !sendIfEmpty) return false
    this.send({ type: MessageType.App, to, index: pr.next - 1, logTerm: prevTerm, entries: ents, commit: this.log.committed })
    pr.sentEntries(ents.length, payloadSize(ents))
    return true
  }

  maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower not heard from recently may be down; a snapshot is costly, wait to hear from it.
    if (!pr.recentActive) return false
    let snapshot: Snapshot
    try {
      snapshot = this.log.snapshot()
    } catch (err) {
      if (err instanceof RaftStorageError && err.code === 'SNAPSHOT_TEMPORARILY_UNAVAILABLE') return false
      throw err
    }
    if (snapshot.metadata.index === 0) throw new Error('need non-empty snapshot')
    this.logger.debug(`${this.id} sends snapshot at ${snapshot.metadata.index} to ${to} [${pr}]`)
    pr.becomeSnapshot(snapshot.metadata.index)
    this.send({ type: MessageType.Snap, to, snapshot })
    return true
  }

  sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    // The follower may not have all committed entries yet: tell it only what it can check.
    const pr = this.trk.progress.get(to)!
    const commit = Math.min(pr.match, this.log.committed)
    // `index` carries the heartbeat round, which the follower echoes (the read lease).
    this.send({ type: MessageType.Heartbeat, to, commit, context, index: this.heartbeatRound })
  }

  /** Ticks since this node started: the core's only notion of time. */
  ticks = 0
  /** Leader: heartbeat rounds sent in this term, and the tick each was sent at. */
  heartbeatRound = 0
  roundSentAt = new Map<number, number>()

  /**
   * Whether the leader's lease holds: a quorum acknowledged a heartbeat round sent less than an
   * election timeout (less one tick, for the phase between nodes' ticks) ago. Followers that
   * acknowledged it grant no vote until an election timeout after receiving it, so no other
   * leader can exist yet, if ticks run at the same rate everywhere.
   */
  leaseValid(): boolean {
    if (this.state !== 'leader' || !this.checkQuorum) return false
    const round = this.trk.config.voters.committedIndex((id) =>
      id === this.id ? this.heartbeatRound : this.trk.progress.get(id)?.ackedRound,
    )
    const sent = this.roundSentAt.get(round)
    return sent !== undefined && this.ticks - sent < this.electionTimeout - 1
  }

  bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id)
    })
  }

  bcastHeartbeat(): void {
    this.bcastHeartbeatWithContext(this.readOnly.lastPendingRequestContext())
  }

  bcastHeartbeatWithContext(context: Uint8Array | undefined): void {
    this.heartbeatRound++
    this.roundSentAt.set(this.heartbeatRound, this.ticks)
    this.roundSentAt.delete(this.heartbeatRound - 4 * this.electionTimeout)
    this.trk.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, context)
    })
  }

  /** Advances the commit index if a quorum has a newer entry of this term. */
  maybeCommit(): boolean {
    return this.log.maybeCommit(this.trk.committed(), this.term)
  }

  /** Appends entries proposed to this leader. Returns false if they are over the uncommitted bound. */
  appendEntry(es: readonly Entry[]): boolean {
    let li = this.log.lastIndex()
    const ents: Entry[] = es.map((e) => ({ term: this.term, index: ++li, type: e.type, data: e.data }))
    if (!this.increaseUncommittedSize(ents)) {
      this.logger.warn(`${this.id} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`)
      return false
    }
    this.log.append(ents)
    // The leader counts its own entries toward a quorum only once the driver made them durable
    // (see onStable): a commit index never claims more than disks hold.
    return true
  }

  /**
   * The driver persisted the log up to `index` (RawNode.advance). The leader now counts it for
   * itself, which may commit entries: in a single-voter cluster this is the only way they commit.
   */
  onStable(): void {
    if (this.state !== 'leader') return
    const pr = this.trk.progress.get(this.id)
    if (!pr) return
    if (pr.maybeUpdate(this.log.unstable.offset - 1) && this.maybeCommit()) {
      releasePendingReadIndexMessages(this)
      this.bcastAppend()
    }
  }

  increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = uncommittedBytes(ents)
    // Always accept a proposal when nothing is uncommitted, so that one large entry can pass.
    if (this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false
    this.uncommittedSize += s
    return true
  }

  reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s
  }

  // --- Roles --------------------------------------------------------------------------------

  reset(term: number): void {
    if (this.term !== term) {
      this.term = term
      this.vote = NONE
    }
    this.lead = NONE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.trk.resetVotes()
    const lastIndex = this.log.lastIndex()
    this.trk.visit((id, pr) => {
      const fresh = new Progress(lastIndex + 1, new Inflights(this.trk.maxInflight, this.trk.maxInflightBytes), pr.isLearner)
      // Our own match is what is durable; the rest is counted when it is (onStable).
      if (id === this.id) fresh.match = Math.min(lastIndex, this.log.unstable.offset - 1)
      this.trk.progress.set(id, fresh)
    })
    this.heartbeatRound = 0
    this.roundSentAt = new Map()
    this.pendingConfIndex = 0
    this.pendingTransferTerm = 0
    this.uncommittedSize = 0
    this.readOnly = new ReadOnly(this.readOnly.option)
    this.pendingReadIndexMessages = []
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.stepFn = stepFollower
    this.reset(term)
    this.tickFn = () => this.tickElection()
    this.lead = lead
    this.state = 'follower'
    this.logger.info(`${this.id} became follower at term ${this.term}`)
  }

  /**
   * Forgets this follower's leader, keeping its term: a leaderless follower grants pre-votes at
   * once instead of honouring the leader's lease, so that when a quorum of followers has strong
   * evidence that the leader is gone (its process refused their connections) they can elect a
   * new one without waiting out the election timeout. Hearing from the leader again restores it.
   * Not with lease-based reads, whose leases rely on followers ignoring votes. Returns whether a
   * leader was forgotten.
   */
  forgetLeader(): boolean {
    if (this.state !== 'follower' || this.lead === NONE || this.readOnly.option === 'lease-based') return false
    this.logger.info(`${this.id} forgets leader ${this.lead} at term ${this.term}`)
    this.lead = NONE
    return true
  }

  becomeCandidate(): void {
    if (this.state === 'leader') throw new Error('invalid transition [leader -> candidate]')
    this.stepFn = stepCandidate
    this.reset(this.term + 1)
    this.tickFn = () => this.tickElection()
    this.vote = this.id
    this.state = 'candidate'
    this.logger.info(`${this.id} became candidate at term ${this.term}`)
  }

  becomePreCandidate(): void {
    if (this.state === 'leader') throw new Error('invalid transition [leader -> pre-candidate]')
    // A pre-candidate changes neither its term nor its vote: the pre-vote round only asks whether
    // an election could be won, so it cannot disturb a cluster it was cut off from.
    this.stepFn = stepCandidate
    this.trk.resetVotes()
    this.tickFn = () => this.tickElection()
    this.lead = NONE
    this.state = 'pre-candidate'
    this.logger.info(`${this.id} became pre-candidate at term ${this.term}`)
  }

  becomeLeader(): void {
    if (this.state === 'follower') throw new Error('invalid transition [follower -> leader]')
    this.stepFn = stepLeader
    this.reset(this.term)
    this.tickFn = () => this.tickHeartbeat()
    this.lead = this.id
    this.state = 'leader'
    // The leader's own log is known to match: replicate to itself.
    const self = this.trk.progress.get(this.id)!
    self.becomeReplicate()
    // The leader always counts as active for check-quorum (which never resets it); otherwise a
    // two-voter leader would step down at every check.
    self.recentActive = true
    // Conservatively treat every entry of earlier terms as possibly holding a conf change, so that
    // none is proposed before they are all applied.
    this.pendingConfIndex = this.log.lastIndex()
    // Raft §8: a new leader appends an empty entry of its term; committing it commits every
    // earlier entry (Figure 8) and lets it serve ReadIndex.
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_DATA }])) {
      throw new Error('empty entry was dropped')
    }
    // The empty entry does not count toward the uncommitted size.
    this.logger.info(`${this.id} became leader at term ${this.term}`)
  }

  // --- Time ---------------------------------------------------------------------------------

  tick(): void {
    this.ticks++
    this.tickFn()
  }

  tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0
      this.step(makeMessage({ from: this.id, type: MessageType.Hup }))
    }
  }

  tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0
      if (this.checkQuorum) this.step(makeMessage({ from: this.id, type: MessageType.CheckQuorum }))
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer()
      // A leader that was removed tries again to hand over.
      if (this.state === 'leader' && !this.isVoter()) this.handOffLeadership()
    }
    if (this.state !== 'leader') return
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0
      this.step(makeMessage({ from: this.id, type: MessageType.Beat }))
    }
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rng.int(this.electionTimeout)
  }

  /** Whether this node may become leader: a voter, with no snapshot being installed. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot()
  }

  // --- Elections ----------------------------------------------------------------------------

  hup(t: CampaignType): void {
    if (this.state === 'leader') return
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable and can not campaign`)
      return
    }
    // A committed conf change not yet applied could change who votes; wait until it is applied.
    if (this.hasUnappliedConfChanges()) {
      this.logger.warn(`${this.id} cannot campaign at term ${this.term} since there are still pending configuration changes to apply`)
      // A leader handing over (often because it removed itself, in the very entry we have not
      // applied yet) is waiting on us: campaign as soon as it is applied (see appliedTo).
      if (t === 'transfer') this.pendingTransferTerm = this.term
      return
    }
    this.campaign(t)
  }

  /** The term in which a TimeoutNow arrived that could not be acted on yet, or 0. */
  pendingTransferTerm = 0

  hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false
    // Scan committed but unapplied entries in pages.
    let lo = this.log.applied + 1
    const hi = this.log.committed + 1
    while (lo < hi) {
      let ents: Entry[]
      try {
        ents = this.log.slice(lo, hi, this.maxMsgSize)
      } catch (err) {
        // Unknown: be conservative.
        if (err instanceof RaftStorageError) return true
        throw err
      }
      if (ents.length === 0) break
      for (const e of ents) if (e.type === EntryType.ConfChange) return true
      lo = ents[ents.length - 1].index + 1
    }
    return false
  }

  campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warn(`${this.id} is unpromotable; campaign() should have been called`)
      return
    }
    let voteMsg: MessageType
    let term: number
    if (t === 'pre-election') {
      this.becomePreCandidate()
      voteMsg = MessageType.PreVote
      // The pre-vote asks for the term a real election would use, without moving to it.
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteMsg = MessageType.Vote
      term = this.term
    }
    // Vote for itself. For a real election the vote is in the hard state, persisted before any
    // message leaves (the driver's contract), so it cannot vote twice after a crash.
    const { result } = this.poll(this.id, voteRespType(voteMsg), true)
    if (result === VoteResult.Won) {
      // A single-voter configuration wins at once.
      if (t === 'pre-election') this.campaign('election')
      else this.becomeLeader()
      return
    }
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) continue
      this.logger.info(
        `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}] sent ${MessageType[voteMsg]} request to ${id} at term ${this.term}`,
      )
      this.send({
        type: voteMsg,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: t === 'transfer' ? CAMPAIGN_TRANSFER : undefined,
      })
    }
  }

  poll(id: NodeId, t: MessageType, granted: boolean): { granted: number; rejected: number; result: VoteResult } {
    this.logger.debug(`${this.id} received ${MessageType[t]} ${granted ? '' : 'rejection '}from ${id} at term ${this.term}`)
    this.trk.recordVote(id, granted)
    return this.trk.tallyVotes()
  }

  // --- Step ---------------------------------------------------------------------------------

  /** Feeds one message (local or from a peer) to the state machine. */
  step(m: Message): StepResult {
    // Term handling, common to all roles (Raft §5.1: "If one server's current term is smaller
    // than the other's, then it updates its current term to the larger value").
    if (m.term === 0) {
      // Local message, or a forwarded proposal / read request.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context !== undefined && m.context.length === 1 && m.context[0] === CAMPAIGN_TRANSFER[0]
        // With lease-based reads, a node that just (re)started also honours the lease it may have
        // promised before a crash: it knows no leader yet, but one may be serving reads on it.
        const inLease =
          this.checkQuorum &&
          ((this.lead !== NONE && this.electionElapsed < this.electionTimeout) ||
            (this.readOnly.option === 'lease-based' && this.ticks < this.electionTimeout))
        if (!force && inLease) {
          // Raft thesis §4.2.3: a node that heard from a leader within the minimum election
          // timeout ignores vote requests, so that a removed or partitioned node rejoining with a
          // higher term cannot depose a healthy leader.
          this.logger.info(
            `${this.id} [logterm: ${this.log.lastTerm()}, index: ${this.log.lastIndex()}, vote: ${this.vote}] ignored ${MessageType[m.type]} from ${m.from} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          )
          return 'ok'
        }
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term of the election; we move to it only when we
        // win the pre-vote and campaign for real. A rejection carries the voter's term, which is
        // genuinely newer: that case falls through to becoming a follower.
      } else {
        this.logger.info(`${this.id} [term: ${this.term}] received a ${MessageType[m.type]} message with higher term from ${m.from} [term: ${m.term}]`)
        if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
          this.becomeFollower(m.term, m.from)
        } else {
          this.becomeFollower(m.term, NONE)
        }
      }
    } else if (m.term < this.term) {
      if (m.type === MessageType.Heartbeat || m.type === MessageType.App) {
        // A leader from an older term keeps sending (after a partition, or removed and handing
        // over). Nothing else may reach it with our term: with check-quorum or pre-vote we never
        // send it a higher-term vote request, and a removed leader gets none at all. So tell it
        // our term directly and let it step down.
        this.send({ type: MessageType.AppResp, to: m.from })
      } else if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
        // Raft §5.1: reject a stale request with our term, so that the candidate learns it. A
        // candidate that nobody answers keeps campaigning at terms everyone ignores.
        this.logger.info(`${this.id} rejected ${MessageType[m.type]} from ${m.from} [term ${m.term}] at term ${this.term}`)
        this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true })
      } else {
        this.logger.debug(`${this.id} [term: ${this.term}] ignored a ${MessageType[m.type]} message with lower term from ${m.from} [term: ${m.term}]`)
      }
      return 'ok'
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? 'pre-election' : 'election')
        return 'ok'
      case MessageType.Vote:
      case MessageType.PreVote: {
        // Raft §5.2, §5.4.1: grant if we have not voted for another candidate in this term (or
        // this is a pre-vote for a later term), and the candidate's log is at least as up to date.
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term)
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.logger.info(`${this.id} cast ${MessageType[m.type]} for ${m.from} at term ${this.term}`)
          // The answer carries the term of the request: for a pre-vote our own term is older.
          this.send({ type: voteRespType(m.type), to: m.from, term: m.term })
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0
            this.vote = m.from
          }
        } else {
          this.logger.info(`${this.id} rejected ${MessageType[m.type]} from ${m.from} at term ${this.term}`)
          this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true })
        }
        return 'ok'
      }
      default:
        return this.stepFn(this, m)
    }
  }

  // --- Handlers shared by followers and candidates -----------------------------------------

  handleAppendEntries(m: Message): void {
    if (!wellFormedAppend(m)) {
      // Bad input loses nothing: refuse it whole rather than take part of it in.
      this.logger.warn(`${this.id} ignored a malformed MsgApp from ${m.from} at index ${m.index}`)
      return
    }
    if (m.index < this.log.committed) {
      // Everything up to our commit index matches the leader's log (Log Matching): answer with
      // the commit index so the leader can move on.
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed })
      return
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, index: lastNew })
      return
    }
    // Reject, with a hint so that the leader finds the match point in one round trip instead of
    // one per entry: the last index <= m.index whose term is <= the leader's term at m.index.
    const hintIndex = Math.min(m.index, this.log.lastIndex())
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm)
    this.logger.debug(
      `${this.id} [logterm: ${this.log.termOrUndefined(m.index) ?? 0}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from}`,
    )
    this.send({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term })
  }

  handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit)
    this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context, index: m.index })
  }

  handleSnapshot(m: Message): void {
    const s = m.snapshot
    if (!s) return
    if (this.restore(s)) {
      this.logger.info(`${this.id} [commit: ${this.log.committed}] restored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`)
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() })
    } else {
      this.logger.info(`${this.id} [commit: ${this.log.committed}] ignored snapshot [index: ${s.metadata.index}, term: ${s.metadata.term}]`)
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed })
    }
  }

  /** Installs a snapshot from the leader. Returns false if it is stale or does not concern us. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.log.committed) return false
    if (this.log.applying > this.log.applied) {
      // Committed entries handed out in a Ready are still being applied, and applying them
      // (conf changes especially) assumes the configuration they were committed under. Installing
      // a later snapshot now would switch it under their feet. Decline; the leader sends again.
      this.logger.info(`${this.id} declined snapshot [index: ${s.metadata.index}] while entries up to ${this.log.applying} are being applied`)
      return false
    }
    if (this.state !== 'follower') {
      // Only a leader of our term sends snapshots, so we should be its follower. Defend anyway.
      this.logger.warn(`${this.id} attempted to restore snapshot as ${this.state}; should never happen`)
      this.becomeFollower(this.term + 1, NONE)
      return false
    }
    // NB: the snapshot's configuration may not include us. That happens when the leader's latest
    // snapshot predates the entry that added us; the entries after it will tell us. A node that
    // just started has no configuration at all either, so this is a state the core handles.
    const cs = s.metadata.confState
    // Our log already has the snapshot's last entry: just fast-forward the commit index.
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      this.log.commitTo(s.metadata.index)
      return false
    }
    this.log.restore(s)
    const restored = restoreConfig(cs, this.log.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes, {
      config: emptyTrackerConfig(),
      progress: new Map(),
    })
    this.switchToConfig(restored.config, restored.progress)
    return true
  }

  // --- Membership ---------------------------------------------------------------------------

  /** Applies a committed conf change entry; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    const changer = new Changer(this.trk.config, this.trk.progress, this.log.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes)
    let next: { config: TrackerConfig; progress: ProgressMap }
    if (isLeaveJoint(cc)) {
      next = changer.leaveJoint()
    } else {
      const { joint, autoLeave } = jointMode(cc)
      next = joint ? changer.enterJoint(autoLeave, cc.changes) : changer.simple(cc.changes)
    }
    return this.switchToConfig(next.config, next.progress)
  }

  switchToConfig(config: TrackerConfig, progress: ProgressMap): ConfState {
    this.trk.config = config
    this.trk.progress = progress
    this.logger.info(`${this.id} switched to configuration ${config.voters}${config.learners.size ? ` learners=(${[...config.learners].sort((a, b) => a - b).join(' ')})` : ''}`)
    const cs = this.trk.confState()
    const pr = progress.get(this.id)
    this.isLearner = pr !== undefined && pr.isLearner
    if (this.state !== 'leader' || cs.voters.length === 0) return cs
    if (pr === undefined || this.isLearner) {
      // Removed or demoted while leading. Stepping down at once can deadlock the cluster: this
      // node may hold entries no remaining voter has (so it would refuse them its vote) while it
      // can no longer campaign itself. Instead it keeps leading without taking proposals, brings
      // the best-placed voter up to date and hands leadership over (see handOffLeadership).
      this.handOffLeadership()
    }
    // The quorum may have shrunk: entries may commit now.
    if (this.maybeCommit()) {
      this.bcastAppend()
    } else {
      // New members need their first append now rather than at the next heartbeat.
      this.trk.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false)
      })
    }
    if (this.leadTransferee !== NONE && !this.trk.config.voters.incoming.has(this.leadTransferee)) {
      this.abortLeaderTransfer()
    }
    return cs
  }

  /** Whether this node is a voter of the current configuration. */
  isVoter(): boolean {
    return this.trk.config.voters.has(this.id)
  }

  /**
   * A leader that is no longer a voter hands leadership to the voter most likely to win: heard
   * from recently, with the longest matching log. It steps down when that voter's campaign
   * reaches it with a higher term. Retried every election timeout until it succeeds.
   */
  handOffLeadership(): void {
    let best: { id: NodeId; active: boolean; match: number } | undefined
    for (const id of this.trk.config.voters.incoming.sorted()) {
      if (id === this.id) continue
      const pr = this.trk.progress.get(id)
      if (!pr) continue
      const c = { id, active: pr.recentActive, match: pr.match }
      if (!best || (c.active && !best.active) || (c.active === best.active && c.match > best.match)) best = c
    }
    if (!best) return
    this.logger.info(`${this.id} is not a voter any more; handing leadership to ${best.id}`)
    this.leadTransferee = best.id
    this.electionElapsed = 0
    if (best.match === this.log.lastIndex()) this.sendTimeoutNow(best.id)
    else this.sendAppend(best.id)
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE
  }

  sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, to })
  }

  /** Whether the log's commit index is in this leader's term (so ReadIndex may be served). */
  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrUndefined(this.log.committed) === this.term
  }

  /** Answers a ReadIndex request at `readIndex`: a read state if local, else a message. */
  respondToReadIndex(req: Message, readIndex: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index: readIndex, context: req.context ?? EMPTY_DATA })
      return
    }
    this.send({ type: MessageType.ReadIndexResp, to: req.from, index: readIndex, context: req.context })
  }

  /** Called by the RawNode after the application applied up to `index`. */
  appliedTo(index: number, appliedBytes: number): void {
    const oldApplied = this.log.applied
    const newApplied = Math.max(index, oldApplied)
    this.log.appliedTo(newApplied)
    if (this.pendingTransferTerm !== 0) {
      const term = this.pendingTransferTerm
      this.pendingTransferTerm = 0
      if (term === this.term && this.state === 'follower') this.hup('transfer')
    }
    if (this.state === 'leader') this.reduceUncommittedSize(appliedBytes)
    if (this.trk.config.autoLeave && newApplied >= this.pendingConfIndex && this.state === 'leader') {
      // The joint configuration is applied: propose leaving it. Appended directly (not through
      // step) so that it bypasses the checks for a pending conf change, which this one satisfies.
      const data = encodeConfChange({ changes: [] })
      if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.ConfChange, data }])) {
        throw new Error('refused to leave joint config because of the uncommitted size limit')
      }
      this.pendingConfIndex = this.log.lastIndex()
      this.logger.info(`initiating automatic transition out of joint configuration ${this.trk.config.voters}`)
      this.bcastAppend()
    }
  }

  /**
   * Checks a conf change proposal against the rules (one pending at a time, no change while
   * joint except leaving it). Returns the refusal reason, or undefined if acceptable.
   */
  confChangeRefusal(data: Uint8Array): string | undefined {
    let cc: ConfChange
    try {
      cc = decodeConfChange(data)
    } catch {
      return 'malformed conf change'
    }
    const alreadyPending = this.pendingConfIndex > this.log.applied
    const alreadyJoint = this.trk.config.voters.isJoint
    const wantsLeaveJoint = isLeaveJoint(cc)
    if (alreadyPending) return `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.log.applied})`
    if (alreadyJoint && !wantsLeaveJoint) return 'must transition out of joint config first'
    if (!alreadyJoint && wantsLeaveJoint) return 'not in joint state; refusing empty conf change'
    // Check it against the current configuration now, so that a change that cannot apply never
    // enters the log (it would be refused at apply time on every node anyway).
    try {
      const changer = new Changer(this.trk.config, this.trk.progress, this.log.lastIndex(), this.trk.maxInflight, this.trk.maxInflightBytes)
      if (!wantsLeaveJoint) {
        const { joint, autoLeave } = jointMode(cc)
        if (joint) changer.enterJoint(autoLeave, cc.changes)
        else changer.simple(cc.changes)
      }
    } catch (err) {
      if (err instanceof ConfChangeError) return err.message
      throw err
    }
    return undefined
  }
}
