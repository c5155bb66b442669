import { RaftStorageError, type RaftStorage } from './storage.js'
import {
  emptyConfState,
  entrySize,
  EMPTY_DATA,
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js'
import { limitSize } from './util.js'

/**
 * A {@link RaftStorage} held entirely in memory. Used by the simulator and tests, and as the
 * in-memory view the driver keeps in front of a durable store.
 */
export class MemoryStorage implements RaftStorage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 }
  #snapshot: Snapshot
  // ents[0] is a dummy holding the index and term of the last snapshot.
  // Invariant: ents[i].index === ents[0].index + i
  #ents: Entry[]

  constructor() {
    this.#snapshot = { metadata: { index: 0, term: 0, confState: emptyConfState() }, data: EMPTY_DATA }
    this.#ents = [{ index: 0, term: 0, type: 0, data: EMPTY_DATA }]
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.#snapshot.metadata.confState }
  }

  setHardState(hs: HardState): void {
    this.hardState = hs
  }

  /** Sets the membership a fresh node starts with (as if by a snapshot at index 0). */
  setConfState(cs: ConfState): void {
    this.#snapshot = { ...this.#snapshot, metadata: { ...this.#snapshot.metadata, confState: cs } }
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.#ents[0].index
    if (lo <= offset) throw new RaftStorageError('COMPACTED')
    if (hi > this.lastIndex() + 1) {
      throw new RangeError(`entries hi ${hi} is out of bound, last index ${this.lastIndex()}`)
    }
    if (this.#ents.length === 1) return []
    return limitSize(this.#ents.slice(lo - offset, hi - offset), maxBytes)
  }

  term(index: number): number {
    const offset = this.#ents[0].index
    if (index < offset) throw new RaftStorageError('COMPACTED')
    if (index - offset >= this.#ents.length) throw new RaftStorageError('UNAVAILABLE')
    return this.#ents[index - offset].term
  }

  firstIndex(): number {
    return this.#ents[0].index + 1
  }

  lastIndex(): number {
    return this.#ents[0].index + this.#ents.length - 1
  }

  snapshot(): Snapshot {
    return this.#snapshot
  }

  /** Replaces the whole log by a snapshot (a follower installing one). */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.#snapshot.metadata.index) {
      throw new RaftStorageError('COMPACTED', 'snapshot is out of date')
    }
    this.#snapshot = snap
    this.#ents = [{ index: snap.metadata.index, term: snap.metadata.term, type: 0, data: EMPTY_DATA }]
  }

  /**
   * Records a snapshot taken by the application at `index` (which must be applied) so that it can
   * be sent to followers; does not drop entries (see {@link compact}).
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) {
      throw new RaftStorageError('COMPACTED', 'snapshot is out of date')
    }
    if (index > this.lastIndex()) {
      throw new RangeError(`snapshot ${index} is out of bound, last index ${this.lastIndex()}`)
    }
    const term = this.#ents[index - this.#ents[0].index].term
    this.#snapshot = { metadata: { index, term, confState }, data }
    return this.#snapshot
  }

  /** Discards entries before `compactIndex`; the entry at compactIndex stays as the dummy. */
  compact(compactIndex: number): void {
    const offset = this.#ents[0].index
    if (compactIndex <= offset) throw new RaftStorageError('COMPACTED')
    if (compactIndex > this.lastIndex()) {
      throw new RangeError(`compact ${compactIndex} is out of bound, last index ${this.lastIndex()}`)
    }
    const i = compactIndex - offset
    const head = this.#ents[i]
    const ents: Entry[] = [{ index: head.index, term: head.term, type: 0, data: EMPTY_DATA }]
    for (let j = i + 1; j < this.#ents.length; j++) ents.push(this.#ents[j])
    this.#ents = ents
  }

  /**
   * Appends entries persisted by the driver. Entries that overlap the existing log replace it from
   * the first overlapping index (a follower's conflicting suffix is truncated).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0].index + entries.length - 1
    if (last < first) return
    // Entries before firstIndex are already compacted into the snapshot.
    const from = first > entries[0].index ? first - entries[0].index : 0
    const offset = entries[from].index - this.#ents[0].index
    if (offset > this.#ents.length) {
      throw new RangeError(`missing log entry [last: ${this.lastIndex()}, append at: ${entries[from].index}]`)
    }
    this.#ents.length = offset
    for (let j = from; j < entries.length; j++) this.#ents.push(entries[j])
  }

  /** The byte size of the log held, for tests and metrics. */
  byteSize(): number {
    let n = 0
    for (const e of this.#ents) n += entrySize(e)
    return n
  }
}
