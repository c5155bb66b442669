import type { Entry, Snapshot } from './types.js'

/**
 * The entries (and at most one snapshot) the core holds that the driver has not yet persisted.
 * They are handed out in Ready and marked stable when the driver advances.
 */
export class Unstable {
  /** The incoming snapshot, if any, not yet persisted. */
  snapshot: Snapshot | undefined
  entries: Entry[] = []
  // Invariant: entries[i].index === offset + i.
  offset: number

  constructor(offset: number) {
    this.offset = offset
  }

  /** The first index if a snapshot is pending (the index after it), else undefined. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot?.metadata.index
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term
      return undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return this.entries[i - this.offset].term
  }

  /** The driver persisted entries up to (index, term): drop them from here. */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index)
    if (t === undefined) return
    // Only if the entry is still the one that was persisted: a newer leader may have replaced it
    // in the meantime, and that replacement is not durable yet.
    if (t === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset)
      this.offset = index + 1
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) this.snapshot = undefined
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.entries = []
    this.snapshot = s
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0].index
    if (after === this.offset + this.entries.length) {
      // The common case: directly after what we hold.
      for (const e of ents) this.entries.push(e)
    } else if (after <= this.offset) {
      // Replaces everything unstable (and the stable suffix from `after` on).
      this.offset = after
      this.entries = ents.slice()
    } else {
      // Keep [offset, after), then append.
      this.entries = this.entries.slice(0, after - this.offset)
      for (const e of ents) this.entries.push(e)
    }
  }

  /** Entries in [lo, hi); the caller checks the bounds. */
  slice(lo: number, hi: number): Entry[] {
    if (lo > hi) throw new RangeError(`invalid unstable slice ${lo} > ${hi}`)
    const upper = this.offset + this.entries.length
    if (lo < this.offset || hi > upper) {
      throw new RangeError(`unstable slice [${lo},${hi}) out of bound [${this.offset},${upper}]`)
    }
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
