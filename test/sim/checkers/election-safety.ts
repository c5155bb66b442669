import { Violation } from './violation.js'

/** Raft §5.2 Election Safety: at most one leader can be elected in a given term. */
export class ElectionSafetyChecker {
  readonly #leaderOfTerm = new Map<number, number>()

  becameLeader(id: number, term: number, time: number): void {
    const prev = this.#leaderOfTerm.get(term)
    if (prev !== undefined && prev !== id) {
      throw new Violation('correctness', 'election safety', time, `nodes ${prev} and ${id} are both leaders of term ${term}`)
    }
    this.#leaderOfTerm.set(term, id)
  }

  get terms(): number {
    return this.#leaderOfTerm.size
  }
}
