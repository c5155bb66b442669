import { bootstrapLog } from '../../lib/raft/bootstrap.js'
import { decodeConfChange } from '../../lib/raft/conf-change-codec.js'
import { MemoryStorage } from '../../lib/raft/memory-storage.js'
import { RawNode, type Ready } from '../../lib/raft/raw-node.js'
import { SeededRng } from '../../lib/raft/rng.js'
import { emptyConfState, EntryType, type ConfState, type Entry, type Snapshot, type StateRole } from '../../lib/raft/types.js'
import type { SimOptions } from './options.js'

/** FNV-1a over bytes, continuing from `h`. */
export function fnv(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

export function entryHash(e: Entry): number {
  return fnv((0x811c9dc5 ^ e.type) >>> 0, e.data)
}

/**
 * The replicated state machine of the simulation: a hash chain over every applied entry, and a
 * small key-value map written by client commands (`c<n>|<client>|<seq>|<key>|<value>`), with the
 * last sequence applied per client so that a command proposed twice (a retry, a duplicated
 * forward) takes effect once (DESIGN rule 4).
 */
export interface SimState {
  index: number
  hash: number
  kv: Record<string, string>
  clients: Record<string, number>
}

export function initialState(): SimState {
  return { index: 0, hash: 0x811c9dc5, kv: {}, clients: {} }
}

export interface ClientCommand {
  readonly body: string
  readonly client: string
  readonly seq: number
  readonly key: string
  readonly value: string
}

export function parseCommand(data: Uint8Array): ClientCommand | undefined {
  if (data.length === 0 || data[0] !== 0x63 /* c */) return undefined
  const body = decoder.decode(data)
  const parts = body.split('|')
  if (parts.length < 5) return undefined
  return { body, client: parts[1], seq: Number(parts[2]), key: parts[3], value: parts[4] }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeState(s: SimState): Uint8Array {
  return encoder.encode(JSON.stringify(s))
}

export function decodeState(data: Uint8Array): SimState {
  if (data.length === 0) return initialState()
  return JSON.parse(decoder.decode(data)) as SimState
}

/**
 * One simulated server. Its `disk` (a MemoryStorage standing in for durable storage) survives a
 * crash; everything else (the Raft node, the state machine, a Ready being persisted) is lost.
 */
export class SimNode {
  readonly id: number
  readonly disk = new MemoryStorage()
  raw: RawNode | undefined
  state: SimState = initialState()
  /** The membership as of the applied index. */
  confState: ConfState = emptyConfState()
  /** A Ready handed out and being persisted (disk latency). */
  pendingReady: Ready | undefined
  retired = false
  /** Whether this node was ever a member: only then does leaving the configuration retire it. */
  wasMember = false
  /** Whether it applied its own removal. */
  removed = false
  /** Bumped at each restart so that events scheduled for a previous life are ignored. */
  incarnation = 0
  lastRole: StateRole = 'follower'
  lastTerm = 0
  lastCommitted = 0
  readonly #options: SimOptions
  readonly #rng: SeededRng

  constructor(id: number, options: SimOptions, rng: SeededRng, peers: readonly number[] | undefined) {
    this.id = id
    this.#options = options
    this.#rng = rng
    if (peers) {
      const boot = bootstrapLog(peers)
      this.disk.append(boot.entries)
      this.disk.setHardState(boot.hardState)
    }
  }

  get alive(): boolean {
    return this.raw !== undefined
  }

  start(): void {
    if (this.raw) throw new Error(`node ${this.id} already running`)
    this.incarnation++
    this.#clientSeq = 0
    const snap = this.disk.snapshot()
    this.state = decodeState(snap.data)
    this.confState = snap.metadata.confState
    this.pendingReady = undefined
    this.raw = new RawNode({
      id: this.id,
      storage: this.disk,
      applied: snap.metadata.index,
      electionTick: this.#options.electionTick,
      heartbeatTick: this.#options.heartbeatTick,
      preVote: this.#options.preVote,
      checkQuorum: this.#options.checkQuorum,
      readOnlyOption: this.#options.leaseReads && this.#options.checkQuorum ? 'lease-based' : 'safe',
      maxSizePerMsg: this.#options.maxSizePerMsg,
      maxInflightMsgs: this.#options.maxInflightMsgs,
      maxUncommittedEntriesSize: this.#options.maxUncommittedEntriesSize,
      rng: this.#rng.fork(),
    })
    const st = this.raw.status()
    this.lastRole = st.role
    this.lastTerm = st.term
    this.lastCommitted = st.commit
  }

  /** Loses everything that is not on disk. */
  crash(): void {
    this.raw = undefined
    this.pendingReady = undefined
  }

  /** Persists what the Ready asks (the durable write), before its messages may leave. */
  persist(rd: Ready): void {
    if (rd.snapshot) this.disk.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) this.disk.append(rd.entries)
    if (rd.hardState) this.disk.setHardState(rd.hardState)
  }

  restoreSnapshot(s: Snapshot): void {
    this.state = decodeState(s.data)
    this.confState = s.metadata.confState
  }

  /**
   * Applies one committed entry. Returns the client command if it took effect (not a duplicate).
   */
  apply(e: Entry): ClientCommand | undefined {
    if (e.type === EntryType.ConfChange) {
      this.confState = this.raw!.applyConfChange(decodeConfChange(e.data))
    }
    const s = this.state
    s.index = e.index
    s.hash = fnv((s.hash ^ e.term) >>> 0, encoder.encode(`${e.index}:${entryHash(e)}`))
    const cmd = e.type === EntryType.Normal ? parseCommand(e.data) : undefined
    if (!cmd || (s.clients[cmd.client] ?? 0) >= cmd.seq) return undefined
    s.clients[cmd.client] = cmd.seq
    s.kv[cmd.key] = cmd.value
    return cmd
  }

  /** This incarnation's client id and next sequence number. */
  nextClientSeq(): { client: string; seq: number } {
    return { client: `${this.id}.${this.incarnation}`, seq: ++this.#clientSeq }
  }

  #clientSeq = 0

  /** Takes a snapshot of the applied state and compacts the log behind it. */
  maybeSnapshot(): void {
    const snapIndex = this.disk.snapshot().metadata.index
    if (this.state.index - snapIndex < this.#options.snapshotInterval) return
    this.disk.createSnapshot(this.state.index, this.confState, encodeState(this.state))
    const compactTo = this.state.index - this.#options.compactSlack
    if (compactTo > this.disk.firstIndex()) this.disk.compact(compactTo)
  }

  isMember(cs: ConfState = this.confState): boolean {
    return cs.voters.includes(this.id) || cs.learners.includes(this.id) || cs.votersOutgoing.includes(this.id)
  }
}
