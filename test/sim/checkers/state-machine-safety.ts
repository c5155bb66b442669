import { Violation } from './violation.js'

/**
 * Raft §5.4.3 State Machine Safety: if a server has applied a log entry at a given index, no other
 * server ever applies a different entry for that index. Also checks that each node applies every
 * index exactly once and in order, and that a state restored from a snapshot equals the state the
 * entries produce.
 */
export class StateMachineSafetyChecker {
  // index -> hash of the state after applying it
  readonly #stateAt = new Map<number, number>()
  readonly #entryAt = new Map<number, { term: number; hash: number }>()
  #maxApplied = 0

  applied(node: number, prevIndex: number, index: number, term: number, entryHash: number, stateHash: number, time: number): void {
    if (index !== prevIndex + 1) {
      throw new Violation('correctness', 'state machine safety', time, `node ${node} applied index ${index} after ${prevIndex}`)
    }
    const e = this.#entryAt.get(index)
    if (e === undefined) {
      this.#entryAt.set(index, { term, hash: entryHash })
      if (index > this.#maxApplied) this.#maxApplied = index
    } else if (e.term !== term || e.hash !== entryHash) {
      throw new Violation(
        'correctness',
        'state machine safety',
        time,
        `node ${node} applied ${index}@${term} but another node applied ${index}@${e.term} (different entry)`,
      )
    }
    this.#checkState(node, index, stateHash, time, 'applying')
  }

  restored(node: number, index: number, stateHash: number, time: number): void {
    this.#checkState(node, index, stateHash, time, 'restoring a snapshot')
  }

  #checkState(node: number, index: number, stateHash: number, time: number, how: string): void {
    const s = this.#stateAt.get(index)
    if (s === undefined) this.#stateAt.set(index, stateHash)
    else if (s !== stateHash) {
      throw new Violation('correctness', 'state machine safety', time, `node ${node} reached a different state at index ${index} by ${how}`)
    }
  }

  entryTerm(index: number): number | undefined {
    return this.#entryAt.get(index)?.term
  }

  get maxApplied(): number {
    return this.#maxApplied
  }
}
