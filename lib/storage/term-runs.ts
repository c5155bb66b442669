/**
 * The term of every index of the log, kept in memory as runs of equal terms. Terms change rarely
 * (once per leader), so this stays a few dozen numbers however long the log is, and lets `term()`
 * answer synchronously for entries whose data lives only on disk.
 *
 * @module
 */
export class TermRuns {
  // Invariant: starts is strictly increasing; run k covers [starts[k], starts[k+1]) with terms[k];
  // the last run ends at lastIndex. starts[0] is the base index (the entry before the first kept).
  readonly #starts: number[] = []
  readonly #terms: number[] = []
  #lastIndex: number

  /** A log holding only the base entry `(index, term)`. */
  constructor(baseIndex: number, baseTerm: number) {
    this.#starts.push(baseIndex)
    this.#terms.push(baseTerm)
    this.#lastIndex = baseIndex
  }

  get baseIndex(): number {
    return this.#starts[0]
  }

  get lastIndex(): number {
    return this.#lastIndex
  }

  /** The term of `index`, which must lie in [baseIndex, lastIndex]. */
  termAt(index: number): number {
    if (index < this.#starts[0] || index > this.#lastIndex) {
      throw new RangeError(`index ${index} is outside [${this.#starts[0]}, ${this.#lastIndex}]`)
    }
    let lo = 0
    let hi = this.#starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.#starts[mid] <= index) lo = mid
      else hi = mid - 1
    }
    return this.#terms[lo]
  }

  /** Appends the entry `lastIndex + 1`. */
  push(index: number, term: number): void {
    if (index !== this.#lastIndex + 1) throw new RangeError(`append at ${index}, last index ${this.#lastIndex}`)
    if (this.#terms[this.#terms.length - 1] !== term) {
      this.#starts.push(index)
      this.#terms.push(term)
    }
    this.#lastIndex = index
  }

  /** Drops the indexes >= `index` (index > baseIndex). */
  truncateFrom(index: number): void {
    if (index <= this.#starts[0]) throw new RangeError(`cannot truncate at ${index}, base ${this.#starts[0]}`)
    if (index > this.#lastIndex) return
    while (this.#starts.length > 1 && this.#starts[this.#starts.length - 1] >= index) {
      this.#starts.pop()
      this.#terms.pop()
    }
    this.#lastIndex = index - 1
  }

  /** Makes `index` (<= lastIndex) the new base; its term is kept, the earlier ones dropped. */
  rebase(index: number): void {
    const term = this.termAt(index)
    let k = 0
    while (k + 1 < this.#starts.length && this.#starts[k + 1] <= index) k++
    this.#starts.splice(0, k)
    this.#terms.splice(0, k)
    this.#starts[0] = index
    this.#terms[0] = term
  }

  /** Forgets everything: the log becomes just `(index, term)` (a snapshot was installed). */
  reset(index: number, term: number): void {
    this.#starts.length = 0
    this.#terms.length = 0
    this.#starts.push(index)
    this.#terms.push(term)
    this.#lastIndex = index
  }
}
