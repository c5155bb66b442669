import { Unstable } from './log-unstable.js'
import { RaftStorageError, type RaftStorage } from './storage.js'
import type { Entry, Snapshot } from './types.js'
import { limitSize } from './util.js'

/**
 * The Raft log as the core sees it: the stable part in {@link RaftStorage} followed by the
 * unstable part the driver has not persisted yet.
 */
export class RaftLog {
  readonly storage: RaftStorage
  readonly unstable: Unstable
  /**
   * The highest index known to be committed (Raft §5.3).
   * Invariant: applied <= applying <= committed.
   */
  committed: number
  /** The highest index handed to the application in a Ready (being applied). */
  applying: number
  /** The highest index the application has applied. */
  applied: number
  readonly maxApplyingSize: number

  constructor(storage: RaftStorage, maxApplyingSize: number) {
    this.storage = storage
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    // The snapshot in storage is applied by definition; entries after it are committed only once
    // the hard state says so (set by the caller).
    this.committed = first - 1
    this.applying = first - 1
    this.applied = first - 1
    this.maxApplyingSize = maxApplyingSize
  }

  /**
   * The follower side of AppendEntries (Raft §5.3): if our log holds an entry at `index` with
   * `logTerm`, append `ents` (dropping any conflicting suffix) and advance the commit index.
   * Returns the index of the last new entry, or undefined if the logs do not match at `index`.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNew = index + ents.length
    const ci = this.findConflict(ents)
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(`entry ${ci} conflicts with committed entry [committed(${this.committed})]`)
      }
      this.append(ents.slice(ci - (index + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex()
    const after = ents[0].index - 1
    if (after < this.committed) {
      throw new Error(`after(${after}) is out of range [committed(${this.committed})]`)
    }
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /**
   * The index of the first entry of `ents` that is not in our log with the same term: a conflict
   * if it is within our log, a new entry if past it. 0 if all of `ents` is already here.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * The fast backtracking hint: the largest index <= `index` whose term is <= `term`, with its
   * term. A leader at `term` with our entry there must conflict above it, so it can skip the
   * whole run of entries of later terms in one round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.termOrUndefined(index)
      // Out of range (compacted, or unknown): cannot look further back.
      if (t === undefined) return { index, term: 0 }
      if (t <= term) return { index, term: t }
    }
    return { index: 0, term: 0 }
  }

  /** Entries not yet persisted, to be written in the next Ready. */
  unstableEntries(): Entry[] {
    return this.unstable.entries
  }

  /**
   * Committed entries ready to apply: after `applying`, up to `committed`, within the byte
   * budget. None while a snapshot is waiting to be applied.
   */
  nextCommittedEntries(): Entry[] {
    if (this.hasPendingSnapshot()) return []
    const lo = Math.max(this.applying + 1, this.firstIndex())
    const hi = this.committed + 1
    if (lo >= hi) return []
    try {
      return this.slice(lo, hi, this.maxApplyingSize)
    } catch (err) {
      // The entries are on disk but not in memory: they come in a later Ready.
      if (err instanceof RaftStorageError && err.code === 'UNAVAILABLE') return []
      throw err
    }
  }

  hasNextCommittedEntries(): boolean {
    if (this.hasPendingSnapshot()) return false
    return this.committed > Math.max(this.applying, this.firstIndex() - 1)
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  commitTo(toCommit: number): void {
    // Never decrease the commit index.
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) {
        throw new Error(`tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]`)
      }
      this.committed = toCommit
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return
    if (this.committed < i || i < this.applied) {
      throw new Error(`applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`)
    }
    this.applied = i
    if (this.applying < i) this.applying = i
  }

  acceptApplying(i: number): void {
    if (this.committed < i) throw new Error(`applying(${i}) is out of range [committed(${this.committed})]`)
    this.applying = i
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term)
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index)
  }

  lastTerm(): number {
    return this.termOrUndefined(this.lastIndex()) ?? 0
  }

  /**
   * The term of the entry at `i`. Throws RaftStorageError COMPACTED or UNAVAILABLE when the log
   * cannot say; returns 0 for an index past the end (no entry has term 0, so it never matches).
   */
  term(i: number): number {
    const dummy = this.firstIndex() - 1
    if (i < dummy) throw new RaftStorageError('COMPACTED')
    if (i > this.lastIndex()) return 0
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    return this.storage.term(i)
  }

  termOrUndefined(i: number): number | undefined {
    try {
      return this.term(i)
    } catch (err) {
      if (err instanceof RaftStorageError) return undefined
      throw err
    }
  }

  /** Entries from `i` on, within `maxSize` bytes. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return []
    return this.slice(i, this.lastIndex() + 1, maxSize)
  }

  /**
   * Raft §5.4.1 election restriction: a candidate's log is at least as up to date as ours if its
   * last term is higher, or equal with a last index at least as high.
   */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm()
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex())
  }

  matchTerm(i: number, term: number): boolean {
    const t = this.termOrUndefined(i)
    return t !== undefined && t === term
  }

  /**
   * Raft §5.4.2: a leader commits by counting replicas only entries of its own term; earlier
   * entries are committed indirectly (Figure 8).
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrUndefined(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /** Entries in [lo, hi) from storage then unstable, within maxSize (at least one). */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.#mustCheckOutOfBounds(lo, hi)
    if (lo === hi) return []
    let ents: Entry[] = []
    if (lo < this.unstable.offset) {
      const stored = this.storage.entries(lo, Math.min(hi, this.unstable.offset), maxSize)
      // A short answer from storage means the size limit was hit: stop there.
      if (stored.length < Math.min(hi, this.unstable.offset) - lo) return stored
      ents = stored
    }
    if (hi > this.unstable.offset) {
      const u = this.unstable.slice(Math.max(lo, this.unstable.offset), hi)
      ents = ents.length > 0 ? ents.concat(u) : u
    }
    return limitSize(ents, maxSize)
  }

  #mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) throw new RangeError(`invalid slice ${lo} > ${hi}`)
    const fi = this.firstIndex()
    if (lo < fi) throw new RaftStorageError('COMPACTED')
    const length = this.lastIndex() + 1 - fi
    if (hi > fi + length) throw new RangeError(`slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`)
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, unstable.offset=${this.unstable.offset}, len(unstable.entries)=${this.unstable.entries.length}`
  }
}
