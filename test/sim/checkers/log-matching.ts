import { Violation } from './violation.js'

/**
 * Raft §5.3 Log Matching: if two logs contain an entry with the same index and term, the logs are
 * identical in all entries up through that index. Checked incrementally on every persisted entry:
 * by induction it is equivalent to (a) an (index, term) pair always names the same entry and
 * (b) always follows the same term at index - 1.
 */
export class LogMatchingChecker {
  readonly #entry = new Map<string, number>()
  readonly #prevTerm = new Map<string, number>()

  persisted(node: number, index: number, term: number, entryHash: number, prevTerm: number | undefined, time: number): void {
    const key = `${index}:${term}`
    const e = this.#entry.get(key)
    if (e === undefined) this.#entry.set(key, entryHash)
    else if (e !== entryHash) {
      throw new Violation('correctness', 'log matching', time, `node ${node} persisted a different entry at index ${index} term ${term}`)
    }
    if (prevTerm === undefined) return
    const p = this.#prevTerm.get(key)
    if (p === undefined) this.#prevTerm.set(key, prevTerm)
    else if (p !== prevTerm) {
      throw new Violation(
        'correctness',
        'log matching',
        time,
        `node ${node} has entry ${index}@${term} after term ${prevTerm}, another node after term ${p}`,
      )
    }
  }
}
