import { Violation } from './violation.js'

/**
 * Raft §5.4 Leader Completeness: an entry committed in term T is in the log of every leader of a
 * term after T. Commits are recorded with the term of the leader that made them.
 */
export class LeaderCompletenessChecker {
  // index -> the term of the entry and the term of the leader that committed it
  readonly #committed = new Map<number, { entryTerm: number; commitTerm: number }>()
  #maxIndex = 0

  committed(index: number, entryTerm: number, commitTerm: number, time: number): void {
    const c = this.#committed.get(index)
    if (c === undefined) {
      this.#committed.set(index, { entryTerm, commitTerm })
      if (index > this.#maxIndex) this.#maxIndex = index
    } else if (c.entryTerm !== entryTerm) {
      throw new Violation(
        'correctness',
        'leader completeness',
        time,
        `index ${index} committed with term ${c.entryTerm} in term ${c.commitTerm} and with term ${entryTerm} in term ${commitTerm}`,
      )
    }
  }

  /** `termAt` answers the new leader's log term at an index, or undefined if compacted. */
  becameLeader(id: number, term: number, termAt: (index: number) => number | undefined, firstIndex: number, time: number): void {
    for (let i = firstIndex; i <= this.#maxIndex; i++) {
      const c = this.#committed.get(i)
      if (c === undefined || c.commitTerm >= term) continue
      const t = termAt(i)
      if (t !== c.entryTerm) {
        throw new Violation(
          'correctness',
          'leader completeness',
          time,
          `node ${id} became leader of term ${term} without entry ${i}@${c.entryTerm} committed in term ${c.commitTerm} (it has term ${t})`,
        )
      }
    }
  }

  get maxCommitted(): number {
    return this.#maxIndex
  }
}
