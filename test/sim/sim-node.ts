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

/** The replicated state machine of the simulation: a hash chain over every applied entry. */
export interface SimState {
  index: number
  hash: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeState(s: SimState): Uint8Array {
  return encoder.encode(JSON.stringify(s))
}

export function decodeState(data: Uint8Array): SimState {
  if (data.length === 0) return { index: 0, hash: 0x811c9dc5 }
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
  state: SimState = { index: 0, hash: 0x811c9dc5 }
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

  /** Applies one committed entry; returns the state hash after it. */
  apply(e: Entry): void {
    if (e.type === EntryType.ConfChange) {
      this.confState = this.raw!.applyConfChange(decodeConfChange(e.data))
    }
    this.state = { index: e.index, hash: fnv((this.state.hash ^ e.term) >>> 0, encoder.encode(`${e.index}:${entryHash(e)}`)) }
  }

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
