import { Violation } from './violation.js'

/**
 * ReadIndex (Raft §6.4): the index a read may be served at must cover every entry committed before
 * the read was issued; otherwise the read could miss a write that had already completed.
 */
export class LinearizableReadChecker {
  readonly #pending = new Map<string, { node: number; minIndex: number; issuedAt: number }>()
  confirmed = 0

  issued(key: string, node: number, committedAnywhere: number, time: number): void {
    this.#pending.set(key, { node, minIndex: committedAnywhere, issuedAt: time })
  }

  answered(key: string, node: number, index: number, time: number): void {
    const p = this.#pending.get(key)
    if (p === undefined) return // a duplicate answer, or from a run before a crash
    this.#pending.delete(key)
    if (p.node !== node) {
      throw new Violation('correctness', 'linearizable read', time, `read ${key} issued on node ${p.node} answered on node ${node}`)
    }
    if (index < p.minIndex) {
      throw new Violation(
        'correctness',
        'linearizable read',
        time,
        `read ${key} issued at t=${p.issuedAt} on node ${node} got read index ${index}, but ${p.minIndex} was already committed`,
      )
    }
    this.confirmed++
  }

  /** Reads of a crashed node will never be answered. */
  forgetNode(node: number): void {
    for (const [k, p] of this.#pending) if (p.node === node) this.#pending.delete(k)
  }
}
