/**
 * A small deterministic in-memory cluster for Raft protocol tests, in the spirit of etcd-io/raft's
 * `network` (raft_test.go): real RawNodes over MemoryStorage, a FIFO message queue, and filters
 * that drop or rewrite messages. There is no clock: time moves only when a test ticks a node.
 *
 * The Ready loop follows the RawNode contract: persist the snapshot, entries and hard state, then
 * queue the messages, then apply the committed entries (ConfChange entries through
 * applyConfChange), then advance.
 *
 * Determinism: nodes are always visited in ascending id order and messages delivered in the order
 * they were sent (breadth first), so a test replays exactly.
 */
import { bootstrapLog } from '../../lib/raft/bootstrap.js'
import { decodeConfChange, encodeConfChange } from '../../lib/raft/conf-change-codec.js'
import { MemoryStorage } from '../../lib/raft/memory-storage.js'
import { Raft, type RaftConfig, type StepResult } from '../../lib/raft/raft.js'
import { RawNode, type Ready } from '../../lib/raft/raw-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import {
  emptyConfState,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ReadState,
} from '../../lib/raft/types.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function bytes(s: string): Uint8Array {
  return encoder.encode(s)
}

export function text(b: Uint8Array | undefined): string {
  return b ? decoder.decode(b) : ''
}

/** The tuning every node of a network shares (id, storage and rng are the network's). */
export type NodeConfig = Omit<RaftConfig, 'id' | 'storage' | 'rng' | 'applied'>

export interface NetworkOptions {
  /** The initial voters. */
  readonly voters: readonly NodeId[]
  /** The initial learners. */
  readonly learners?: readonly NodeId[]
  /**
   * Preset logs, as the term of each entry from index 1. When given, the membership is written to
   * storage directly (as if by a snapshot at index 0) instead of by bootstrap ConfChange entries,
   * so that indexes are exactly those of the preset log. Nodes not listed start empty.
   */
  readonly logs?: Readonly<Record<number, readonly number[]>>
  /** With `logs`: the term every node's hard state starts at (default: its last log term). */
  readonly term?: number
  /** Shared tuning. The defaults here are the core's, except electionTick 10 and heartbeatTick 1. */
  readonly config?: Partial<NodeConfig>
  /** Per-node overrides of `config`. */
  readonly nodeConfig?: Readonly<Record<number, Partial<NodeConfig>>>
  /** Seeds the election timeouts (each node gets its own generator derived from it). */
  readonly seed?: number
}

/** What a filter does with a message: pass it (possibly rewritten) or drop it (undefined). */
export type Filter = (m: Message) => Message | undefined

/** One member of the test network: its durable storage and the applied state machine. */
export class TestNode {
  readonly id: NodeId
  readonly storage: MemoryStorage
  raw: RawNode | undefined
  /** The data of every non-empty Normal entry applied, in order: the state machine. */
  applied: string[] = []
  appliedIndex = 0
  /** The membership as of the applied index. */
  confState: ConfState = emptyConfState()
  /** Every ReadState handed out, in order. */
  readStates: ReadState[] = []
  /** Every soft-state change seen in a Ready, for assertions on role history. */
  roles: string[] = []
  /** With slow apply: a Ready persisted and sent, whose entries are not applied yet. */
  pendingApply: Ready | undefined

  constructor(id: NodeId, storage: MemoryStorage) {
    this.id = id
    this.storage = storage
  }

  get raft(): Raft {
    if (!this.raw) throw new Error(`node ${this.id} is down`)
    return this.raw.raft
  }
}

export class Network {
  readonly nodes = new Map<NodeId, TestNode>()
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = []
  /** Every message delivered, in order (after filters). */
  delivered: Message[] = []
  /** Every message dropped by a filter or because its target is down or unknown. */
  dropped: Message[] = []
  #filters: Filter[] = []
  readonly #slowApply = new Set<NodeId>()
  readonly #options: NetworkOptions
  readonly #seed: number

  constructor(options: NetworkOptions) {
    this.#options = options
    this.#seed = options.seed ?? 1
    const learners = options.learners ?? []
    const all = [...options.voters, ...learners].sort((a, b) => a - b)
    for (const id of all) {
      const storage = new MemoryStorage()
      if (options.logs) {
        storage.setConfState({ ...emptyConfState(), voters: [...options.voters].sort((a, b) => a - b), learners: [...learners].sort((a, b) => a - b) })
        const terms = options.logs[id] ?? []
        storage.append(terms.map((term, i): Entry => ({ term, index: i + 1, type: EntryType.Normal, data: bytes(`${i + 1}@${term}`) })))
        const last = terms.length > 0 ? terms[terms.length - 1] : 0
        storage.setHardState({ term: options.term ?? last, vote: 0, commit: 0 })
      } else {
        const boot = bootstrapLog(options.voters)
        const entries = boot.entries.slice()
        for (const l of [...learners].sort((a, b) => a - b)) {
          entries.push({
            term: 1,
            index: entries.length + 1,
            type: EntryType.ConfChange,
            data: encodeConfChange({ changes: [{ type: 'addLearner', nodeId: l }] }),
          })
        }
        storage.append(entries)
        storage.setHardState({ ...boot.hardState, commit: entries.length })
      }
      this.#add(id, storage)
    }
    // Apply the bootstrap entries so that every node knows the membership.
    this.stabilize()
  }

  /** Adds a brand-new node with empty storage (it learns everything from the leader). */
  addNode(id: NodeId, config?: Partial<NodeConfig>): TestNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`)
    return this.#add(id, new MemoryStorage(), config)
  }

  #add(id: NodeId, storage: MemoryStorage, config?: Partial<NodeConfig>): TestNode {
    const n = new TestNode(id, storage)
    this.nodes.set(id, n)
    this.#start(n, config)
    return n
  }

  #configFor(id: NodeId): NodeConfig {
    return {
      electionTick: 10,
      heartbeatTick: 1,
      ...this.#options.config,
      ...this.#options.nodeConfig?.[id],
    }
  }

  #start(n: TestNode, extra?: Partial<NodeConfig>): void {
    const snap = n.storage.snapshot()
    n.applied = snap.data.length > 0 ? (JSON.parse(text(snap.data)) as string[]) : []
    n.appliedIndex = snap.metadata.index
    n.confState = snap.metadata.confState
    n.raw = new RawNode({
      ...this.#configFor(n.id),
      ...extra,
      id: n.id,
      storage: n.storage,
      applied: snap.metadata.index,
      rng: new SeededRng(this.#seed * 1000 + n.id),
    })
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id)
    if (!n) throw new Error(`no node ${id}`)
    return n
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft
  }

  raw(id: NodeId): RawNode {
    const r = this.node(id).raw
    if (!r) throw new Error(`node ${id} is down`)
    return r
  }

  /** Live node ids, ascending. */
  ids(): NodeId[] {
    return [...this.nodes.keys()].sort((a, b) => a - b).filter((id) => this.nodes.get(id)!.raw !== undefined)
  }

  // --- Crashes --------------------------------------------------------------------------------

  /** Crashes a node: only its storage survives. Messages to it are dropped while it is down. */
  stop(id: NodeId): void {
    const n = this.node(id)
    n.raw = undefined
    n.pendingApply = undefined
  }

  /** Restarts a node from its storage (a stopped one, or a live one: a crash and restart). */
  restart(id: NodeId, config?: Partial<NodeConfig>): void {
    const n = this.node(id)
    n.raw = undefined
    n.pendingApply = undefined
    this.#start(n, config)
  }

  // --- Filters --------------------------------------------------------------------------------

  /** Adds a filter; it applies until {@link recover}. */
  filter(f: Filter): void {
    this.#filters.push(f)
  }

  /** Drops every message matching the predicate. */
  drop(pred: (m: Message) => boolean): void {
    this.filter((m) => (pred(m) ? undefined : m))
  }

  /** Drops every message from or to `id`. */
  isolate(id: NodeId): void {
    this.drop((m) => m.from === id || m.to === id)
  }

  /** Drops every message between `a` and `b`, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.drop((m) => (m.from === a && m.to === b) || (m.from === b && m.to === a))
  }

  /** Removes every filter (heals partitions). Messages already dropped stay lost. */
  recover(): void {
    this.#filters = []
  }

  // --- Running --------------------------------------------------------------------------------

  /**
   * Handles one Ready of node `id`: persist, send, apply, advance. With slow apply on `id`, stops
   * after sending: the Ready stays outstanding until {@link finishApply}.
   */
  handleReady(id: NodeId): Ready {
    const n = this.node(id)
    const raw = n.raw!
    const rd = raw.ready()
    if (rd.softState) n.roles.push(`${rd.softState.role}@${raw.raft.term}`)
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) n.storage.append(rd.entries)
    if (rd.hardState) n.storage.setHardState(rd.hardState)
    for (const m of rd.messages) this.queue.push(m)
    if (this.#slowApply.has(id)) {
      n.pendingApply = rd
      return rd
    }
    this.#apply(n, rd)
    return rd
  }

  /** Applies the snapshot and committed entries of a Ready, then advances. */
  #apply(n: TestNode, rd: Ready): void {
    const raw = n.raw!
    if (rd.snapshot) {
      const s = rd.snapshot
      n.applied = s.data.length > 0 ? (JSON.parse(text(s.data)) as string[]) : []
      n.appliedIndex = s.metadata.index
      n.confState = s.metadata.confState
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        n.confState = raw.applyConfChange(decodeConfChange(e.data))
      } else if (e.data.length > 0) {
        n.applied.push(text(e.data))
      }
      n.appliedIndex = e.index
    }
    for (const rs of rd.readStates) n.readStates.push(rs)
    raw.advance()
  }

  /**
   * Makes `id` apply slowly: each Ready is persisted and its messages sent, but it is applied
   * and advanced only by {@link finishApply} (the driver's apply runs behind its disk writes).
   */
  slowApply(id: NodeId, slow = true): void {
    if (slow) this.#slowApply.add(id)
    else this.#slowApply.delete(id)
  }

  /** Applies and advances the Ready a slow-applying node holds. Returns whether there was one. */
  finishApply(id: NodeId): boolean {
    const n = this.node(id)
    const rd = n.pendingApply
    if (!rd) return false
    n.pendingApply = undefined
    this.#apply(n, rd)
    return true
  }

  /** Processes the Readies of every live node, ascending ids. Returns whether any was handled. */
  processReadies(): boolean {
    let any = false
    for (const id of this.ids()) {
      const n = this.nodes.get(id)!
      while (!n.pendingApply && n.raw?.hasReady()) {
        this.handleReady(id)
        any = true
      }
    }
    return any
  }

  /** Delivers one message through the filters. Returns the message delivered, if any. */
  deliver(m: Message): Message | undefined {
    let cur: Message | undefined = m
    for (const f of this.#filters) {
      cur = f(cur)
      if (!cur) break
    }
    const target = cur ? this.nodes.get(cur.to)?.raw : undefined
    if (!cur || !target) {
      this.dropped.push(m)
      return undefined
    }
    this.delivered.push(cur)
    target.step(cur)
    return cur
  }

  /** Delivers everything queued now (not what that provokes). Returns how many were queued. */
  deliverAll(): number {
    const batch = this.queue
    this.queue = []
    for (const m of batch) this.deliver(m)
    return batch.length
  }

  /** Runs Readies and deliveries until nothing is left to do. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const readies = this.processReadies()
      if (this.queue.length === 0 && !readies) return
      this.deliverAll()
    }
    throw new Error(`network did not stabilize within ${maxRounds} rounds`)
  }

  /** Ticks one node `n` times, stabilizing after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.raw(id).tick()
      this.stabilize()
    }
  }

  /** Ticks every live node once (ascending ids), then stabilizes; `n` times. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.ids()) this.raw(id).tick()
      this.stabilize()
    }
  }

  /** Ticks every live node until `pred` holds; throws after `max` rounds. Returns rounds used. */
  tickUntil(pred: () => boolean, max = 1000): number {
    for (let i = 0; i < max; i++) {
      if (pred()) return i
      this.tickAll()
    }
    if (pred()) return max
    throw new Error(`condition not reached within ${max} ticks`)
  }

  // --- Client helpers -------------------------------------------------------------------------

  /** Starts an election on `id` and runs the network until quiet. */
  campaign(id: NodeId): StepResult {
    const r = this.raw(id).campaign()
    this.stabilize()
    return r
  }

  /** Campaigns and requires `id` to win. */
  elect(id: NodeId): void {
    this.campaign(id)
    const st = this.raw(id).status()
    if (st.role !== 'leader') throw new Error(`node ${id} did not become leader (${st.role} at term ${st.term})`)
  }

  /** Proposes `data` on `id` (not stabilized: call stabilize()). */
  propose(id: NodeId, data: string): StepResult {
    return this.raw(id).propose(bytes(data))
  }

  proposeConfChange(id: NodeId, cc: ConfChange): StepResult {
    return this.raw(id).proposeConfChange(cc)
  }

  /** Requests a ReadIndex on `id` with context `ctx` (not stabilized). */
  readIndex(id: NodeId, ctx: string): StepResult {
    return this.raw(id).readIndex(bytes(ctx))
  }

  /** Takes a snapshot of `id`'s state machine at its applied index and compacts its log there. */
  snapshotAndCompact(id: NodeId): number {
    const n = this.node(id)
    const index = n.appliedIndex
    n.storage.createSnapshot(index, n.confState, bytes(JSON.stringify(n.applied)))
    n.storage.compact(index)
    return index
  }

  // --- Inspection -----------------------------------------------------------------------------

  /** The live leader with the highest term, or undefined. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined
    for (const id of this.ids()) {
      const r = this.raft(id)
      if (r.state === 'leader' && (!best || r.term > best.term)) best = { id, term: r.term }
    }
    return best?.id
  }

  /** The terms of `id`'s log from its first index (index -> term). */
  logTerms(id: NodeId): number[] {
    const log = this.raft(id).log
    const out: number[] = []
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i))
    return out
  }

  /** `id`'s whole log (from its first index). */
  entries(id: NodeId): Entry[] {
    const log = this.raft(id).log
    return log.entries(log.firstIndex(), Infinity)
  }

  hardState(id: NodeId): HardState {
    return this.node(id).storage.hardState
  }

  /** Delivered messages of a type, optionally from/to given nodes. */
  sent(type: MessageType, filter: { from?: NodeId; to?: NodeId } = {}): Message[] {
    return this.delivered.filter(
      (m) => m.type === type && (filter.from === undefined || m.from === filter.from) && (filter.to === undefined || m.to === filter.to),
    )
  }

  /** Forgets the record of delivered and dropped messages. */
  clearTrace(): void {
    this.delivered = []
    this.dropped = []
  }
}

// --- A bare Raft for unit tests of the state machine -----------------------------------------

export interface RaftOptions {
  readonly id?: NodeId
  readonly voters?: readonly NodeId[]
  readonly learners?: readonly NodeId[]
  /** The term of each entry of the stored log, from index 1. */
  readonly terms?: readonly number[]
  /** Entries appended to the stored log after those of `terms`. */
  readonly extraEntries?: readonly Entry[]
  readonly hardState?: Partial<HardState>
  readonly config?: Partial<NodeConfig>
  readonly seed?: number
}

/**
 * A {@link Raft} over a MemoryStorage holding the given log and membership (set directly, as if by
 * a snapshot at index 0). Defaults: id 1, voters 1 2 3, electionTick 10, heartbeatTick 1.
 */
export function newRaft(o: RaftOptions = {}): { r: Raft; storage: MemoryStorage } {
  const storage = new MemoryStorage()
  storage.setConfState({ ...emptyConfState(), voters: [...(o.voters ?? [1, 2, 3])], learners: [...(o.learners ?? [])] })
  const terms = o.terms ?? []
  storage.append(terms.map((term, i): Entry => ({ term, index: i + 1, type: EntryType.Normal, data: bytes(`${i + 1}@${term}`) })))
  if (o.extraEntries) storage.append(o.extraEntries)
  storage.setHardState({ term: 0, vote: 0, commit: 0, ...o.hardState })
  const r = new Raft({ electionTick: 10, heartbeatTick: 1, ...o.config, id: o.id ?? 1, storage, rng: new SeededRng(o.seed ?? 1) })
  return { r, storage }
}

/** Takes (and clears) the messages a Raft has queued. */
export function takeMsgs(r: Raft): Message[] {
  const m = r.msgs
  r.msgs = []
  return m
}

/** Persists what a bare Raft holds unstable into its storage (as a driver would) and marks it stable. */
export function persist(r: Raft, storage: MemoryStorage): void {
  const ents = r.log.unstableEntries().slice()
  if (ents.length > 0) {
    storage.append(ents)
    const last = ents[ents.length - 1]
    r.log.stableTo(last.index, last.term)
  }
  storage.setHardState(r.hardState())
  r.onStable()
}
