import { VoteResult, type AckedIndexer } from './quorum.js'

/**
 * A set of voters deciding by simple majority. Pure arithmetic: no state beyond the member ids.
 */
export class MajorityConfig {
  readonly ids: ReadonlySet<number>

  constructor(ids: Iterable<number> = []) {
    this.ids = new Set(ids)
  }

  get size(): number {
    return this.ids.size
  }

  has(id: number): boolean {
    return this.ids.has(id)
  }

  /** The ids, sorted: the one order the core iterates in. */
  sorted(): number[] {
    return [...this.ids].sort((a, b) => a - b)
  }

  /**
   * The largest index acknowledged by a majority. An empty configuration returns Infinity so that
   * a joint configuration with an empty half defers to the other half.
   */
  committedIndex(acked: AckedIndexer): number {
    const n = this.ids.size
    if (n === 0) return Infinity
    const indexes: number[] = []
    for (const id of this.ids) indexes.push(acked(id) ?? 0)
    // Sorted descending, the entry at position n/2 (0-based: floor(n/2)) is held by a majority:
    // it and every entry before it, that is floor(n/2) + 1 voters.
    indexes.sort((a, b) => b - a)
    return indexes[Math.floor(n / 2)]
  }

  /**
   * The outcome of an election given the votes so far (true = granted, false = rejected, absent =
   * not yet heard). An empty configuration wins, for the same reason as above.
   */
  voteResult(votes: ReadonlyMap<number, boolean>): VoteResult {
    const n = this.ids.size
    if (n === 0) return VoteResult.Won
    let granted = 0
    let missing = 0
    for (const id of this.ids) {
      const v = votes.get(id)
      if (v === undefined) missing++
      else if (v) granted++
    }
    const q = Math.floor(n / 2) + 1
    if (granted >= q) return VoteResult.Won
    if (granted + missing >= q) return VoteResult.Pending
    return VoteResult.Lost
  }

  toString(): string {
    return `(${this.sorted().join(' ')})`
  }
}
