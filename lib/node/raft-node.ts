import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'eventemitter3'
import { every, realTimeClock, type Clock } from '../clock.js'
import { ClosedError, InvalidConfChangeError, MetastoreError, NotLeaderError, RemovedError, TimeoutError } from '../errors.js'
import { Metrics, SIZE_BUCKETS, type Counter, type Histogram } from '../metrics.js'
import { bootstrapLog } from '../raft/bootstrap.js'
import { decodeConfChange, encodeConfChange } from '../raft/conf-change-codec.js'
import type { RaftLogger } from '../raft/logger.js'
import { silentLogger } from '../raft/logger.js'
import type { RaftConfig } from '../raft/raft.js'
import { RawNode, type RaftStatus } from '../raft/raw-node.js'
import { SeededRng, type Rng } from '../raft/rng.js'
import type { RaftStorage } from '../raft/storage.js'
import { EntryType, MessageType, NONE, type ConfChange, type ConfState, type Entry, type Message, type NodeId, type Snapshot, type StateRole } from '../raft/types.js'
import type { LevelLogStore } from '../storage/level-log-store.js'
import type { Transport } from '../../transports/transport.js'
import { decodeConfContext, encodeConfContext, isMember, memberIds, type MemberAddresses } from './membership.js'
import type { StateMachine } from './state-machine.js'

/** Raft tuning a node passes through to its core. */
export type RaftTuning = Partial<Omit<RaftConfig, 'id' | 'storage' | 'rng' | 'logger' | 'applied'>>

/** A peer: its id, or its id and the address its transport reaches it at. */
export type PeerSpec = NodeId | { readonly id: NodeId; readonly address: string }

export interface RaftNodeOptions {
  readonly id: NodeId
  /**
   * The initial voters of a new cluster (this node included), with their addresses. Only the
   * addresses are used when the log is not empty (or with `join`): to reach members this node
   * does not know of yet. Addresses are replicated with the membership from then on.
   */
  readonly peers?: readonly PeerSpec[]
  /** Start with an empty log and wait to be added by the cluster. */
  readonly join?: boolean
  readonly store: LevelLogStore
  readonly transport: Transport
  readonly stateMachine: StateMachine
  /** Milliseconds per Raft tick. Default 100 (elections after 1–2 s with electionTick 10). */
  readonly tickMs?: number
  /** Take a snapshot every this many applied entries. Default 10,000. */
  readonly snapshotEvery?: number
  /** Entries kept behind a snapshot for followers that lag a little. Default 5,000. */
  readonly compactKeep?: number
  /** How long a proposal or read may wait before failing with TIMEOUT. Default 10 s. */
  readonly requestTimeoutMs?: number
  readonly raft?: RaftTuning
  /** The random source for election timeouts. Default: seeded from the OS. */
  readonly rng?: Rng
  readonly logger?: RaftLogger
  /** Where timers run. Default: real time. */
  readonly clock?: Clock
  /** Where the node records its metrics. Default: a registry of its own. */
  readonly metrics?: Metrics
}

/** Events of a {@link RaftNode}. Each is emitted once what it says is true. */
export interface RaftNodeEvents {
  leaderChanged: [leader: NodeId, term: number]
  roleChanged: [role: StateRole]
  membershipChanged: [confState: ConfState]
  snapshot: [index: number]
  error: [error: Error]
}

interface PendingProposal {
  /** When it was last handed to the core (-1: not yet): a proposal lost on the way is submitted again. */
  submittedAt: number
  /**
   * The term in which this node, as leader, appended it to its own log (0: forwarded, or not
   * appended). A leader keeps its own entries for its whole term: no need to propose it again.
   */
  appendedInTerm: number
  readonly data: Uint8Array
  readonly kind: 'normal' | 'conf-change'
  readonly resolve: (value: unknown) => void
  readonly reject: (err: Error) => void
  readonly cleanup: () => void
  /** Rejects it, if it is still pending. */
  readonly fail: (err: Error) => void
}

/**
 * Normal proposals made in one turn go to the core together, in appends of at most this many
 * bytes (or {@link MAX_SUBMIT_ENTRIES} entries): the core drops a whole append that would pass
 * its limit on uncommitted data, and a bounded one lets the rest through.
 */
const MAX_SUBMIT_BYTES = 1024 * 1024
const MAX_SUBMIT_ENTRIES = 1024

interface PendingRead {
  readonly resolve: (index: number) => void
  readonly reject: (err: Error) => void
  readonly cleanup: () => void
}

interface NodeMetrics {
  readonly proposals: Counter
  readonly proposalsFailed: Counter
  readonly applied: Counter
  readonly leaderChanges: Counter
  readonly saveSeconds: Histogram
  readonly applySeconds: Histogram
  readonly snapshotBytes: Histogram
  readonly readRounds: Counter
  readonly leaderProbes: Counter
  readonly leaderGoneCampaigns: Counter
}

interface ReadRound {
  readonly reads: PendingRead[]
  readonly issuedAt: number
  index?: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The data of a snapshot this node takes itself. The state is already in the database, next to
 * the log, so a local snapshot only marks where the log may be compacted; the state is read out
 * when a follower needs it (see #sendSnapshot), at the applied index of that moment.
 */
const STATE_IN_DATABASE = encoder.encode('metastore:state-in-database')
/** Heartbeat intervals a follower's leader may be silent before the follower probes it. */
const PROBE_AFTER_HEARTBEATS = 3

function isStateInDatabase(data: Uint8Array): boolean {
  if (data.length !== STATE_IN_DATABASE.length) return false
  for (let i = 0; i < data.length; i++) if (data[i] !== STATE_IN_DATABASE[i]) return false
  return true
}

/**
 * The driver around the pure Raft core: the only place with timers and I/O. It runs the Ready
 * loop (persist, then send, then apply, then advance), tracks proposals until they are applied,
 * batches linearizable reads into ReadIndex rounds, and takes snapshots.
 */
export class RaftNode extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId
  readonly #raw: RawNode
  readonly #store: LevelLogStore
  readonly #transport: Transport
  readonly #sm: StateMachine
  readonly #logger: RaftLogger
  readonly #tickMs: number
  readonly #snapshotEvery: number
  readonly #compactKeep: number
  readonly #requestTimeoutMs: number
  readonly #clock: Clock
  readonly metrics: Metrics
  readonly #m: NodeMetrics
  #stopTicker: (() => void) | undefined
  /** A leader probe is under way (see #probeSilentLeader). */
  #probing = false
  /** The silence last probed: the leader and term, and the ticks of silence then. */
  #probed: { term: number; lead: NodeId; elapsed: number } | undefined
  #cancelCampaign: (() => void) | undefined
  /** See {@link electIfSoleVoter}. */
  #electEarly = true
  #addresses: Record<number, string>
  /** Set once this node applied its own removal: requests fail with REMOVED. */
  #removed = false
  /** Whether this node has been a member: a joining node is not "removed" before it is added. */
  #wasMember = false
  #looping = false
  #closed = false
  #loopDone: Promise<void> = Promise.resolve()
  #applied: number
  #confState: ConfState
  #leader: NodeId = NONE
  #role: StateRole = 'follower'
  readonly #proposals = new Map<string, PendingProposal>()
  /** Normal proposals of this turn not yet handed to the core (see {@link MAX_SUBMIT_BYTES}). */
  #toSubmit: string[] = []
  #pendingReads: PendingRead[] = []
  readonly #readRounds = new Map<string, ReadRound>()
  #readSeq = 0
  readonly #readPrefix = randomBytes(8).toString('hex')
  #confSeq = 0
  /** Peers a streamed snapshot is going to. */
  readonly #streamingTo = new Set<NodeId>()
  /** Snapshot sends under way (close() waits for them: they read the database). */
  readonly #sends = new Set<Promise<void>>()
  /** A streamed snapshot being staged, if any (one at a time). */
  #staging: Promise<unknown> | undefined
  /** The Raft snapshot data of streamed snapshots (their bytes were counted as they came in). */
  readonly #stagedData = new WeakSet<Uint8Array>()

  private constructor(o: RaftNodeOptions, raw: RawNode, applied: number, confState: ConfState, addresses: MemberAddresses) {
    super()
    this.id = o.id
    this.#raw = raw
    this.#store = o.store
    this.#transport = o.transport
    this.#sm = o.stateMachine
    this.#logger = o.logger ?? silentLogger
    this.#tickMs = o.tickMs ?? 100
    this.#snapshotEvery = o.snapshotEvery ?? 10_000
    this.#compactKeep = o.compactKeep ?? 5_000
    this.#requestTimeoutMs = o.requestTimeoutMs ?? 10_000
    this.#applied = applied
    this.#confState = confState
    this.#addresses = { ...addresses }
    this.#clock = o.clock ?? realTimeClock
    this.metrics = o.metrics ?? new Metrics()
    this.#m = this.#registerMetrics()
    this.#wasMember = isMember(confState, o.id)
    this.#removed = confState.voters.length > 0 && !this.#wasMember && !o.join
  }

  #registerMetrics(): NodeMetrics {
    const m = this.metrics
    m.gauge('metastore_raft_term', 'Current Raft term.', () => this.#raw.raft.term)
    m.gauge('metastore_raft_commit_index', 'Highest log index known to be committed.', () => this.#raw.raft.log.committed)
    m.gauge('metastore_raft_applied_index', 'Highest log index applied to the state machine.', () => this.#applied)
    m.gauge('metastore_raft_is_leader', '1 if this node is the leader.', () => (this.#role === 'leader' ? 1 : 0))
    m.gauge('metastore_raft_has_leader', '1 if this node knows a leader.', () => (this.#leader !== NONE ? 1 : 0))
    m.gauge('metastore_raft_pending_proposals', 'Proposals waiting to be applied.', () => this.#proposals.size)
    return {
      proposals: m.counter('metastore_proposals_total', 'Proposals submitted through this node.'),
      proposalsFailed: m.counter('metastore_proposals_failed_total', 'Proposals that failed (timeout, closed, removed, refused).'),
      applied: m.counter('metastore_applied_entries_total', 'Committed log entries applied to the state machine.'),
      leaderChanges: m.counter('metastore_leader_changes_total', 'Times this node saw the leader change.'),
      saveSeconds: m.histogram('metastore_log_fsync_duration_seconds', 'Time to write and sync a batch of the Raft log and hard state.'),
      applySeconds: m.histogram('metastore_apply_duration_seconds', 'Time to apply a batch of committed entries.'),
      snapshotBytes: m.histogram('metastore_snapshot_size_bytes', 'Size of snapshots taken or installed.', SIZE_BUCKETS),
      readRounds: m.counter('metastore_read_index_rounds_total', 'ReadIndex rounds (each serves a batch of linearizable reads).'),
      leaderProbes: m.counter('metastore_leader_probes_total', 'Probes of a silent leader\'s address, by result (down: it refused connections).'),
      leaderGoneCampaigns: m.counter('metastore_leader_gone_campaigns_total', 'Elections started early because the leader\'s address refused connections.'),
    }
  }

  /** Opens the log and the state machine, joins the network and starts ticking. */
  static async start(o: RaftNodeOptions): Promise<RaftNode> {
    if (!Number.isSafeInteger(o.id) || o.id <= 0) throw new TypeError('id must be a positive safe integer')
    const store = o.store
    const fresh = store.lastIndex() === 0 && store.hardState.term === 0 && store.snapshot().metadata.index === 0
    if (fresh && !o.join) {
      if (!o.peers || o.peers.length === 0) throw new TypeError('a new cluster needs peers (or join: true)')
      const ids = o.peers.map(peerId)
      if (!ids.includes(o.id)) throw new TypeError(`peers must include this node (${o.id})`)
      const contexts = new Map<NodeId, Uint8Array>()
      for (const p of o.peers) if (typeof p !== 'number') contexts.set(p.id, encodeConfContext({ address: p.address }))
      const boot = bootstrapLog(ids, contexts)
      await store.save({ entries: boot.entries, hardState: boot.hardState })
    }
    const snap = store.snapshot()
    let { appliedIndex, confState, addresses } = await o.stateMachine.open()
    if (appliedIndex < snap.metadata.index) {
      // The state machine is behind the log's snapshot (it lost its state, or the snapshot was
      // installed and the process died before the state machine was): restore it from there.
      if (isStateInDatabase(snap.data)) {
        throw new Error(
          `the state machine is at index ${appliedIndex}, behind the local snapshot at ${snap.metadata.index}, which holds no data: the database lost writes`,
        )
      }
      const restored = await o.stateMachine.restore(snap)
      appliedIndex = snap.metadata.index
      confState = snap.metadata.confState
      addresses = restored?.addresses
    }
    // A snapshot staged from a stream that Raft never took (the process stopped in between)
    // is not needed any more: the one the log names was just restored, or earlier.
    await o.stateMachine.discardStaged?.()
    const cs = confState ?? snap.metadata.confState
    // The core reads the membership at the applied index from its storage; it is the state
    // machine's (written with its effects), not the log store's.
    // Everything the state machine applied was committed: the stored commit index may lag it
    // (commit-only hard states are not written by themselves, see #loop).
    const recovered = store.hardState
    if (appliedIndex > store.lastIndex()) {
      throw new MetastoreError(
        'CORRUPT_LOG',
        `the state machine applied up to index ${appliedIndex} but the log ends at ${store.lastIndex()}: the log lost entries it had made durable`,
      )
    }
    const committed = Math.max(recovered.commit, appliedIndex)
    const storage: RaftStorage = {
      initialState: () => ({ hardState: { ...recovered, commit: committed }, confState: cs }),
      entries: (lo, hi, max) => store.entries(lo, hi, max),
      term: (i) => store.term(i),
      firstIndex: () => store.firstIndex(),
      lastIndex: () => store.lastIndex(),
      snapshot: () => store.snapshot(),
    }
    const raw = new RawNode({
      ...o.raft,
      id: o.id,
      storage,
      applied: appliedIndex,
      rng: o.rng ?? new SeededRng(randomBytes(4).readUInt32LE(0)),
      logger: o.logger,
    })
    // Replicated addresses win; the ones given in options fill the gaps (a joining node's way in).
    const known: Record<number, string> = {}
    for (const p of o.peers ?? []) if (typeof p !== 'number') known[p.id] = p.address
    const node = new RaftNode(o, raw, appliedIndex, cs, { ...known, ...addresses })
    await node.#startIo()
    return node
  }

  async #startIo(): Promise<void> {
    this.#store.on('entriesLoaded', () => this.#wake())
    await this.#transport.start(this.id, {
      onMessages: (from, messages) => this.#receive(from, messages),
      onSnapshot: (from, message, chunks) => this.#receiveSnapshot(from, message, chunks),
      onUnreachable: (to) => {
        if (this.#closed) return
        this.#raw.reportUnreachable(to)
        this.#wake()
      },
    })
    this.#syncPeers(new Set())
    this.#stopTicker = every(this.#clock, this.#tickMs, () => this.#tick())
    this.#electIfSoleVoter()
    this.#wake()
  }

  /**
   * Until the node first knows a leader: the sole voter has nobody to hear from, so it elects
   * itself at once rather than after an election timeout (a one-member cluster serves as soon as
   * it started). Tried at start and after each apply: the core refuses while committed membership
   * changes are not applied yet (a new cluster's first entries).
   */
  #electIfSoleVoter(): void {
    if (!this.#electEarly) return
    if (this.#leader !== NONE) {
      this.#electEarly = false
      return
    }
    const cs = this.#confState
    if (cs.voters.length !== 1 || cs.voters[0] !== this.id || cs.votersOutgoing.length > 0) return
    this.#raw.campaign()
    if (this.#raw.raft.state !== 'follower') this.#electEarly = false
  }

  /** Tells the transport where members are, and forgets peers that left. */
  #syncPeers(before: ReadonlySet<NodeId>): void {
    const now = memberIds(this.#confState)
    for (const [key, address] of Object.entries(this.#addresses)) {
      const id = Number(key)
      if (id !== this.id) this.#transport.addPeer(id, address)
    }
    for (const id of before) {
      if (now.has(id) || id === this.id) continue
      this.#transport.removePeer(id)
    }
  }

  #receive(from: NodeId, messages: readonly Message[]): void {
    if (this.#closed) return
    for (const m of messages) {
      if (m.to !== this.id || m.from !== from) {
        this.#logger.warn(`${this.id} dropped a message addressed to ${m.to} from ${m.from} that came from ${from}`)
        continue
      }
      try {
        this.#raw.step(m)
      } catch (err) {
        // A malformed or hostile message must not bring the node down.
        this.#logger.error(`${this.id} refused ${MessageType[m.type] ?? m.type} from ${from}: ${(err as Error).message}`)
      }
    }
    this.#wake()
  }

  /**
   * Takes a streamed snapshot: the state machine writes it beside its live state (staged), and
   * only then does Raft see the snapshot message, with data that names the staged state. If Raft
   * takes it, the Ready loop restores from it (the state machine makes the staged state live);
   * if not (it is stale), the staged state is dropped.
   */
  async #receiveSnapshot(from: NodeId, m: Message, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const sm = this.#sm
    if (this.#closed) throw new ClosedError('the node is closed')
    if (!sm.stage) throw new Error('this node takes snapshots whole, not streamed')
    if (m.type !== MessageType.Snap || !m.snapshot || m.to !== this.id || m.from !== from) throw new Error('not a snapshot message for this node from its sender')
    // One at a time, and not while one Raft took is on its way to be restored: staging another
    // would drop that one.
    if (this.#staging !== undefined || this.#raw.pendingSnapshot !== undefined) throw new Error('a snapshot is being taken already')
    const size = { bytes: 0 }
    const staging = sm.stage(counting(chunks, size))
    this.#staging = staging
    let data: Uint8Array
    try {
      data = await staging
    } finally {
      this.#staging = undefined
    }
    this.#m.snapshotBytes.observe(size.bytes)
    this.#stagedData.add(data)
    if (this.#closed) throw new ClosedError('the node is closed')
    try {
      this.#raw.step({ ...m, snapshot: { metadata: m.snapshot.metadata, data } })
    } catch (err) {
      this.#logger.error(`${this.id} refused a snapshot from ${from}: ${(err as Error).message}`)
    }
    // (Read again: the step may have changed it.)
    const taken = this.#raw.pendingSnapshot as Snapshot | undefined
    if (taken?.data !== data) await sm.discardStaged?.(data)
    this.#wake()
  }

  #tick(): void {
    if (this.#closed) return
    this.#raw.tick()
    this.#retryStale()
    this.#probeSilentLeader()
    this.#wake()
  }

  /**
   * Fast failover: a follower whose leader has been silent for a few heartbeats asks the
   * transport whether the leader's process is still there. If its address refuses connections,
   * the follower forgets it (granting pre-votes at once) and campaigns after a delay staggered by
   * its rank among the other voters, so that the survivors elect a new leader in a fraction of the
   * election timeout, without two of them splitting the vote. A timeout proves nothing (a
   * partition, a paused process): then the usual election timeout applies.
   */
  #probeSilentLeader(): void {
    const transport = this.#transport
    const r = this.#raw.raft
    if (transport.probe === undefined || this.#probing || r.state !== 'follower' || r.lead === NONE) return
    // Only where an early campaign cannot disturb a live leader (pre-vote, check-quorum), and not
    // with lease-based reads, whose leases rely on followers ignoring votes. Voters only.
    if (!r.preVote || !r.checkQuorum || r.readOnly.option === 'lease-based') return
    if (!this.#confState.voters.includes(this.id) && !(this.#confState.votersOutgoing ?? []).includes(this.id)) return
    if (r.electionElapsed < PROBE_AFTER_HEARTBEATS * r.heartbeatTimeout) return
    // Once per silence: a leader found up (or not answering) is not probed again until heard from.
    const probed = this.#probed
    if (probed !== undefined && probed.term === r.term && probed.lead === r.lead && r.electionElapsed >= probed.elapsed) return
    this.#probed = { term: r.term, lead: r.lead, elapsed: r.electionElapsed }
    const leader = r.lead
    const term = r.term
    this.#probing = true
    transport.probe(leader).then(
      (found) => {
        this.#probing = false
        this.#m.leaderProbes.inc({ result: found })
        if (found !== 'down' || this.#closed || r.lead !== leader || r.term !== term) return
        if (!this.#raw.forgetLeader()) return
        this.#wake()
        const others = [...new Set([...this.#confState.voters, ...(this.#confState.votersOutgoing ?? [])])].filter((id) => id !== leader).sort((a, b) => a - b)
        const rank = others.indexOf(this.id)
        if (rank < 0) return
        this.#cancelCampaign?.()
        const delayMs = rank * 2 * this.#tickMs + r.rng.int(this.#tickMs)
        this.#cancelCampaign = this.#clock.setTimer(delayMs, () => {
          this.#cancelCampaign = undefined
          if (this.#closed || r.state !== 'follower' || r.lead !== NONE || r.term !== term) return
          this.#logger.info(`${this.id} campaigns: leader ${leader} is gone (its address refuses connections)`)
          this.#m.leaderGoneCampaigns.inc()
          this.#raw.campaign()
          this.#wake()
        })
      },
      () => {
        this.#probing = false
      },
    )
  }

  #wake(): void {
    if (this.#looping || this.#closed) return
    this.#looping = true
    this.#loopDone = this.#loop()
  }

  /** The Ready loop. The order of its steps is the durability contract (see docs/architecture.md). */
  async #loop(): Promise<void> {
    try {
      await Promise.resolve()
      while (!this.#closed && this.#raw.hasReady()) {
        const rd = this.#raw.ready()
        if (rd.softState) this.#onSoftState(rd.softState.leader, rd.softState.role)
        // A leader sends while its own write is under way (Raft thesis §10.2.1): its appends
        // need not wait for its disk, since it counts its own entries toward a quorum only once
        // they are durable. Not when its term or vote changed: those must be durable first.
        const stored = this.#store.hardState
        const early =
          this.#role === 'leader' && !rd.snapshot && (rd.hardState === undefined || (rd.hardState.term === stored.term && rd.hardState.vote === stored.vote))
        if (early) this.#send(rd.messages)
        // 1. Persist, synced, before anything that depends on it leaves. A hard state whose commit
        // index alone moved is not written by itself: the commit index is only a hint for a
        // restart (which takes the state machine's applied index as committed, see start()), and
        // the next write of entries, term or vote carries it along.
        const commitOnly =
          rd.entries.length === 0 && !rd.snapshot && rd.hardState !== undefined && rd.hardState.term === stored.term && rd.hardState.vote === stored.vote
        if ((rd.hardState || rd.entries.length > 0 || rd.snapshot) && !commitOnly) {
          const done = this.#m.saveSeconds.startTimer()
          // Only new entries, a new term or a new vote need the fsync (`mustSync`).
          // The commit index goes with the next write: the applied index, durable and committed.
          const hardState = rd.hardState ?? (this.#applied > stored.commit ? { ...stored, commit: this.#applied } : undefined)
          await this.#store.save({ hardState, entries: rd.entries, snapshot: rd.snapshot, sync: rd.mustSync || rd.snapshot !== undefined })
          done()
        }
        // 2. Send, one batch per peer.
        if (!early) this.#send(rd.messages)
        // 3. Apply.
        if (rd.snapshot) {
          if (isStateInDatabase(rd.snapshot.data)) throw new Error('received a snapshot without its data')
          const before = memberIds(this.#confState)
          const restored = await this.#sm.restore(rd.snapshot)
          if (!this.#stagedData.has(rd.snapshot.data)) this.#m.snapshotBytes.observe(rd.snapshot.data.length)
          this.#applied = rd.snapshot.metadata.index
          this.#confState = rd.snapshot.metadata.confState
          if (restored?.addresses) this.#addresses = { ...restored.addresses }
          this.#syncPeers(before)
          this.#checkRemoved()
          this.emit('membershipChanged', this.#confState)
        }
        if (rd.committedEntries.length > 0) await this.#apply(rd.committedEntries)
        // 4. Reads.
        for (const rs of rd.readStates) {
          const round = this.#readRounds.get(decoder.decode(rs.context))
          if (round) round.index = rs.index
        }
        this.#raw.advance()
        if (rd.committedEntries.length > 0) this.#electIfSoleVoter()
        this.#releaseReads()
        // The reads that waited for the round just answered (after advance: it clears read states).
        if (rd.readStates.length > 0) this.#startReadRound()
        await this.#maybeSnapshot()
      }
    } catch (err) {
      this.#stop(err)
    } finally {
      this.#looping = false
    }
    if (!this.#closed && this.#raw.hasReady()) this.#wake()
  }

  /** A storage failure: the node stops (a restart resumes from what is on disk). */
  #stop(err: unknown): void {
    if (this.#closed) return
    const e = err instanceof Error ? err : new Error(String(err))
    this.#logger.error(`${this.id} stopping: ${e.message}`)
    this.emit('error', e)
    void this.close()
  }

  #send(messages: readonly Message[]): void {
    if (messages.length === 0) return
    const byPeer = new Map<NodeId, Message[]>()
    for (const m of messages) {
      let batch = byPeer.get(m.to)
      if (!batch) byPeer.set(m.to, (batch = []))
      batch.push(m)
    }
    for (const [to, batch] of byPeer) {
      const rest = batch.filter((m) => m.type !== MessageType.Snap)
      if (rest.length > 0) this.#transport.send(to, rest)
      for (const m of batch) if (m.type === MessageType.Snap) void this.#sendSnapshot(to, m)
    }
  }

  /**
   * Sends a snapshot. The state is read out of the state machine (the log's snapshot only marks
   * where the log was compacted), as of the applied index now, at or past the snapshot's index:
   * the follower then receives the entries after the snapshot's index again, and its state
   * machine skips those its state already holds (see {@link StateMachine.restore}). Streamed from
   * a database snapshot when the transport and the state machine can, else as one buffer.
   */
  #sendSnapshot(to: NodeId, m: Message): void {
    if (this.#streamingTo.has(to)) return
    const sending = this.#doSendSnapshot(to, m)
    this.#sends.add(sending)
    void sending.finally(() => this.#sends.delete(sending))
  }

  async #doSendSnapshot(to: NodeId, m: Message): Promise<void> {
    let ok = true
    const snap = m.snapshot!
    const tr = this.#transport
    const sm = this.#sm
    try {
      if (tr.sendSnapshot && sm.snapshotStream && sm.stage) {
        this.#streamingTo.add(to)
        const size = { bytes: 0 }
        const chunks = counting(sm.snapshotStream(), size)
        try {
          await tr.sendSnapshot(to, { ...m, snapshot: { metadata: snap.metadata, data: new Uint8Array(0) } }, chunks)
          this.#m.snapshotBytes.observe(size.bytes)
        } finally {
          // Releases the database snapshot if the transport stopped pulling half-way.
          await chunks.return(undefined)
          this.#streamingTo.delete(to)
        }
      } else {
        const data = await sm.snapshot()
        this.#m.snapshotBytes.observe(data.length)
        if (this.#closed) return
        this.#transport.send(to, [{ ...m, snapshot: { metadata: snap.metadata, data } }])
      }
    } catch (err) {
      ok = false
      if (!this.#closed) this.#logger.warn(`${this.id} could not send a snapshot to ${to}: ${(err as Error).message}`)
    }
    if (this.#closed) return
    // Streamed: the follower took it. Whole: the transport took it, and a lost one is found out
    // by the follower's answers.
    this.#raw.reportSnapshot(to, ok)
    this.#wake()
  }

  async #apply(entries: readonly Entry[]): Promise<void> {
    let cs = this.#confState
    const before = memberIds(cs)
    let membershipChanged = false
    const confWaiters: Array<[string | undefined, ConfState]> = []
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue
      const cc = decodeConfChange(e.data)
      cs = this.#raw.applyConfChange(cc)
      membershipChanged = true
      const ctx = decodeConfContext(cc.context)
      for (const ch of cc.changes) {
        if (ch.type === 'removeNode') delete this.#addresses[ch.nodeId]
        else if (ctx.address !== undefined) this.#addresses[ch.nodeId] = ctx.address
      }
      confWaiters.push([ctx.requestId, cs])
    }
    const done = this.#m.applySeconds.startTimer()
    const applied = await this.#sm.apply(entries, cs, membershipChanged ? { ...this.#addresses } : undefined)
    done()
    // The answers below may go out before the state machine's write lands (see StateMachine.apply):
    // the entries are committed in the log, which replays them if that write fails.
    this.#sm.flushed?.().catch((err: unknown) => this.#stop(err))
    this.#m.applied.inc(undefined, entries.length)
    this.#applied = entries[entries.length - 1].index
    this.#confState = cs
    if (membershipChanged) {
      this.#syncPeers(before)
      this.emit('membershipChanged', cs)
    }
    for (const a of applied) {
      if (!a?.requestId) continue
      const p = this.#proposals.get(a.requestId)
      if (p && p.kind === 'normal') {
        this.#proposals.delete(a.requestId)
        p.cleanup()
        p.resolve(a.result)
      }
    }
    for (const [id, state] of confWaiters) {
      const p = id === undefined ? undefined : this.#proposals.get(id)
      if (p && id !== undefined) {
        this.#proposals.delete(id)
        p.cleanup()
        p.resolve(state)
      }
    }
    if (membershipChanged) this.#checkRemoved()
  }

  /**
   * Once this node has applied its own removal it will never apply anything again: what waits
   * fails now with REMOVED rather than at its timeout. (Being added back lifts it.)
   */
  #checkRemoved(): void {
    const member = isMember(this.#confState, this.id)
    if (member) {
      this.#wasMember = true
      this.#removed = false
      return
    }
    // A joining node replays (or restores) configurations from before it was added.
    if (!this.#wasMember || this.#removed) return
    this.#removed = true
    this.#logger.info(`${this.id} was removed from the cluster`)
    this.#failAll(new RemovedError(this.id))
  }

  #failAll(err: Error): void {
    for (const [id, p] of this.#proposals) {
      this.#proposals.delete(id)
      p.cleanup()
      this.#m.proposalsFailed.inc()
      p.reject(err)
    }
    for (const round of this.#readRounds.values()) for (const r of round.reads) r.reject(err)
    this.#readRounds.clear()
    for (const r of this.#pendingReads) r.reject(err)
    this.#pendingReads = []
  }

  async #maybeSnapshot(): Promise<void> {
    const snapIndex = this.#store.snapshot().metadata.index
    if (this.#applied - snapIndex < this.#snapshotEvery) return
    // The log may lose entries only once their effects are on disk.
    await this.#sm.flushed?.()
    // The state is in the database already (written with the applied index): the snapshot
    // records where the log may be compacted, and its data is read out only to be sent.
    await this.#store.createSnapshot(this.#applied, this.#confState, STATE_IN_DATABASE)
    const compactTo = this.#applied - this.#compactKeep
    if (compactTo > this.#store.firstIndex()) await this.#store.compact(compactTo)
    this.emit('snapshot', this.#applied)
  }

  #onSoftState(leader: NodeId, role: StateRole): void {
    const leaderChanged = leader !== this.#leader
    const roleChanged = role !== this.#role
    this.#leader = leader
    this.#role = role
    if (roleChanged) this.emit('roleChanged', role)
    if (leaderChanged) {
      this.#m.leaderChanges.inc()
      this.emit('leaderChanged', leader, this.#raw.raft.term)
      if (leader !== NONE) {
        // A new leader may not have our proposals (they were forwarded to the old one, or lost
        // with it) or our read requests: submit them again. A proposal applied twice is answered
        // once, and the state machine deduplicates by request id (DESIGN rule 4).
        this.#resubmit([...this.#proposals.keys()])
        this.#reissueReads()
      }
    }
  }

  // --- Proposals -------------------------------------------------------------------------

  /**
   * Proposes `data` under a request id unique to this request (retries of the same request keep
   * its id). Resolves with what the state machine returned when the entry was applied.
   */
  propose(requestId: string, data: Uint8Array, signal?: AbortSignal): Promise<unknown> {
    return this.#track(requestId, data, 'normal', signal)
  }

  /** Proposes a membership change; resolves with the membership once it is applied. */
  async proposeConfChange(cc: ConfChange, signal?: AbortSignal, address?: string): Promise<ConfState> {
    const requestId = `conf:${this.#readPrefix}:${++this.#confSeq}`
    const data = encodeConfChange({ ...cc, context: encodeConfContext({ requestId, address }) })
    return (await this.#track(requestId, data, 'conf-change', signal)) as ConfState
  }

  #track(requestId: string, data: Uint8Array, kind: PendingProposal['kind'], signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) return Promise.reject(new ClosedError())
    if (this.#removed) return Promise.reject(new RemovedError(this.id))
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.#proposals.has(requestId)) return Promise.reject(new TypeError(`request ${requestId} is already pending`))
    return new Promise((resolve, reject) => {
      const cancelTimer = this.#clock.setTimer(this.#requestTimeoutMs, () =>
        fail(new TimeoutError(`request ${requestId} was not applied within ${this.#requestTimeoutMs} ms; the outcome is unknown`)),
      )
      const onAbort = (): void => fail(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'))
      const cleanup = (): void => {
        cancelTimer()
        signal?.removeEventListener('abort', onAbort)
      }
      const fail = (err: Error): void => {
        if (this.#proposals.get(requestId) !== entry) return
        this.#proposals.delete(requestId)
        cleanup()
        this.#m.proposalsFailed.inc()
        reject(err)
      }
      const entry: PendingProposal = { submittedAt: -1, appendedInTerm: 0, data, kind, resolve, reject, cleanup, fail }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#proposals.set(requestId, entry)
      this.#m.proposals.inc()
      if (kind === 'normal') {
        // With the others of this turn, at the end of it (a microtask): one append to the log,
        // one message to each follower, one answer from each, where each proposal had its own.
        this.#toSubmit.push(requestId)
        if (this.#toSubmit.length === 1) queueMicrotask(() => this.#submitQueued())
        return
      }
      const outcome = this.#submitConfChange(requestId)
      if (outcome === 'not-leader') fail(new NotLeaderError(this.#raw.leader))
      // Only a membership change can be refused outright (see #submitConfChange).
      else if (outcome === 'refused') fail(new InvalidConfChangeError('membership change refused (one is pending, or it is invalid)'))
    })
  }

  /** Submits pending proposals again, in the order given: normal ones together, membership changes one by one. */
  #resubmit(ids: readonly string[]): void {
    const normal: string[] = []
    for (const id of ids) {
      if (this.#proposals.get(id)?.kind === 'conf-change') this.#submitConfChange(id)
      else normal.push(id)
    }
    this.#submitNormal(normal)
  }

  #submitQueued(): void {
    // Not those a leader change submitted meanwhile (with every pending proposal).
    const ids = this.#toSubmit.filter((id) => this.#proposals.get(id)?.submittedAt === -1)
    this.#toSubmit = []
    if (!this.#closed) this.#submitNormal(ids)
  }

  /**
   * Hands pending normal proposals to the core, in order, in as few appends as the bounds allow.
   * Dropped ones are retried when a leader is known; a follower that may not forward them fails
   * them with `NOT_LEADER`.
   */
  #submitNormal(ids: readonly string[]): void {
    if (ids.length === 0) return
    let batch: PendingProposal[] = []
    let bytes = 0
    const flush = (): void => {
      if (batch.length === 0) return
      const taken = batch
      batch = []
      bytes = 0
      const now = this.#clock.now()
      const r = this.#raw.proposeBatch(taken.map((p) => p.data))
      const term = r === 'ok' && this.#raw.raft.state === 'leader' ? this.#raw.raft.term : 0
      for (const p of taken) {
        p.submittedAt = now
        p.appendedInTerm = term
      }
      if (r === 'not-leader') for (const p of taken) p.fail(new NotLeaderError(this.#raw.leader))
    }
    for (const id of ids) {
      const p = this.#proposals.get(id)
      if (p === undefined || p.kind !== 'normal') continue
      if (batch.length > 0 && (bytes + p.data.byteLength > MAX_SUBMIT_BYTES || batch.length >= MAX_SUBMIT_ENTRIES)) flush()
      batch.push(p)
      bytes += p.data.byteLength
    }
    flush()
    this.#wake()
  }

  /**
   * Hands a pending membership change to the core (normal proposals go by {@link submitNormal}).
   * Dropped ones are retried when a leader is known.
   */
  #submitConfChange(requestId: string): 'ok' | 'retry' | 'not-leader' | 'refused' {
    const p = this.#proposals.get(requestId)
    if (!p) return 'ok'
    p.submittedAt = this.#clock.now()
    const r = this.#raw.proposeConfChange(decodeConfChange(p.data))
    this.#wake()
    p.appendedInTerm = r === 'ok' && this.#raw.raft.state === 'leader' ? this.#raw.raft.term : 0
    if (r === 'ok') return 'ok'
    if (r === 'not-leader') return 'not-leader'
    // Dropped: no leader yet, or a leadership transfer: retry. A change the leader refused
    // breaks its rules (one pending at a time): final.
    if (this.#raw.raft.state === 'leader' && this.#raw.raft.leadTransferee === NONE) return 'refused'
    return 'retry'
  }

  // --- Reads -------------------------------------------------------------------------------

  /**
   * Waits until this node has applied everything committed before the call (ReadIndex, Raft
   * §6.4): a read of local state after it is linearizable. Concurrent calls share one round.
   */
  readBarrier(signal?: AbortSignal): Promise<number> {
    if (this.#closed) return Promise.reject(new ClosedError())
    if (this.#removed) return Promise.reject(new RemovedError(this.id))
    if (signal?.aborted) return Promise.reject(signal.reason)
    return new Promise<number>((resolve, reject) => {
      let read: PendingRead
      const cancelTimer = this.#clock.setTimer(this.#requestTimeoutMs, () => fail(new TimeoutError('linearizable read not confirmed in time (no quorum?)')))
      const onAbort = (): void => fail(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'))
      const cleanup = (): void => {
        cancelTimer()
        signal?.removeEventListener('abort', onAbort)
      }
      const fail = (err: Error): void => {
        cleanup()
        this.#pendingReads = this.#pendingReads.filter((r) => r !== read)
        for (const round of this.#readRounds.values()) {
          const i = round.reads.indexOf(read)
          if (i >= 0) round.reads.splice(i, 1)
        }
        reject(err)
      }
      read = {
        resolve: (index) => {
          cleanup()
          resolve(index)
        },
        reject: fail,
        cleanup,
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#pendingReads.push(read)
      this.#startReadRound()
    })
  }

  /**
   * Asks the core for a read index for every read waiting, unless a round is out already without
   * its index: the reads that came since wait for it to come back and then share the next round
   * (a round asked before a read began cannot serve it). One round at a time bounds the ReadIndex
   * messages to one heartbeat round trip, however many reads are in flight.
   */
  #startReadRound(): void {
    if (this.#pendingReads.length === 0) return
    for (const round of this.#readRounds.values()) if (round.index === undefined) return
    const reads = this.#pendingReads
    this.#pendingReads = []
    const ctx = `${this.#readPrefix}:${++this.#readSeq}`
    this.#readRounds.set(ctx, { reads, issuedAt: this.#clock.now() })
    this.#m.readRounds.inc()
    this.#raw.readIndex(encoder.encode(ctx))
    this.#wake()
  }

  #releaseReads(): void {
    for (const [ctx, round] of this.#readRounds) {
      if (round.index === undefined || round.index > this.#applied) continue
      this.#readRounds.delete(ctx)
      for (const r of round.reads) r.resolve(round.index)
    }
  }

  /** Read rounds lost with a leader change (the core forgets them) are asked again. */
  #reissueReads(): void {
    for (const [ctx, round] of this.#readRounds) {
      if (round.index !== undefined) continue
      this.#readRounds.delete(ctx)
      this.#pendingReads.push(...round.reads)
    }
    this.#startReadRound()
  }

  /** Requests without an answer for an election timeout are submitted again. */
  #retryStale(): void {
    const electionMs = (this.#raw.raft.electionTimeout + 1) * this.#tickMs
    // A read round is one heartbeat round trip: one unanswered for three heartbeat intervals was
    // lost (a dropped message, a leader change), and the reads that queued behind it wait for it.
    const readStaleMs = Math.min(electionMs, 3 * this.#raw.raft.heartbeatTimeout * this.#tickMs)
    const now = this.#clock.now()
    let stale = false
    for (const round of this.#readRounds.values()) {
      if (round.index === undefined && now - round.issuedAt > readStaleMs) stale = true
    }
    if (stale) this.#reissueReads()
    this.#startReadRound()
    if (this.#raw.leader === NONE) return
    const leaderTerm = this.#raw.raft.state === 'leader' ? this.#raw.raft.term : -1
    const lost: string[] = []
    for (const [id, p] of this.#proposals) {
      // An entry this leader appended in its current term is in its log: it is slow, not lost.
      if (p.appendedInTerm === leaderTerm) continue
      if (now - p.submittedAt > electionMs) lost.push(id)
    }
    this.#resubmit(lost)
  }

  // --- Leadership and status ---------------------------------------------------------------

  /** Asks the leader to hand leadership to `to`; resolves once `to` leads (or fails on timeout). */
  async transferLeadership(to: NodeId, signal?: AbortSignal): Promise<void> {
    if (this.#closed) throw new ClosedError()
    if (this.#leader === to) return
    this.#raw.transferLeadership(to)
    this.#wake()
    await this.#waitFor(() => this.#leader === to, signal, `leadership did not move to ${to}`)
  }

  /** Resolves once this node knows a leader. */
  async waitForLeader(signal?: AbortSignal): Promise<NodeId> {
    await this.#waitFor(() => this.#leader !== NONE, signal, 'no leader')
    return this.#leader
  }

  #waitFor(cond: () => boolean, signal: AbortSignal | undefined, what: string): Promise<void> {
    if (cond()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return
        done()
        resolve()
      }
      const cancelTimer = this.#clock.setTimer(this.#requestTimeoutMs, () => {
        done()
        reject(new TimeoutError(`${what} within ${this.#requestTimeoutMs} ms`))
      })
      const onAbort = (): void => {
        done()
        reject(signal!.reason)
      }
      const done = (): void => {
        cancelTimer()
        this.off('leaderChanged', check)
        signal?.removeEventListener('abort', onAbort)
      }
      this.on('leaderChanged', check)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  get leader(): NodeId {
    return this.#leader
  }

  get role(): StateRole {
    return this.#role
  }

  get appliedIndex(): number {
    return this.#applied
  }

  get confState(): ConfState {
    return this.#confState
  }

  /** The members' addresses, as replicated with the membership. */
  get addresses(): MemberAddresses {
    return this.#addresses
  }

  /** Whether this node has applied its own removal from the cluster. */
  get removed(): boolean {
    return this.#removed
  }

  get clock(): Clock {
    return this.#clock
  }

  status(): RaftStatus {
    return this.#raw.status()
  }

  get closed(): boolean {
    return this.#closed
  }

  /** Stops ticking and receiving, lets the Ready loop finish, and fails what is pending with CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopTicker?.()
    this.#cancelCampaign?.()
    await this.#transport.close()
    await this.#loopDone.catch(() => {})
    // Snapshots being sent or staged read and write the database: let them stop first.
    await Promise.allSettled([...this.#sends, this.#staging])
    this.#failAll(new ClosedError('the node was closed'))
    // A clean stop leaves the commit index on disk up to date (it is written lazily, see #loop).
    const stored = this.#store.hardState
    if (this.#applied > stored.commit) {
      try {
        await this.#store.save({ hardState: { ...stored, commit: this.#applied }, entries: [], sync: true })
      } catch {
        // A hint only: a restart takes the applied index as committed anyway.
      }
    }
  }
}

/** `chunks` as they are, adding up their sizes in `size.bytes`. */
async function* counting(chunks: AsyncIterable<Uint8Array>, size: { bytes: number }): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    size.bytes += chunk.byteLength
    yield chunk
  }
}

function peerId(p: PeerSpec): NodeId {
  return typeof p === 'number' ? p : p.id
}
