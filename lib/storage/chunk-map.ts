/**
 * Where each stored chunk of the log begins and ends. Truncating the log, rewriting the chunk that
 * straddles a truncation point and compacting all need the keys of the chunks on disk without
 * reading them back, so their bounds are kept in memory (two numbers per chunk).
 *
 * @module
 */

/** One stored chunk: entries [first, last], under the key of `first`. */
export interface ChunkBounds {
  readonly first: number
  readonly last: number
}

export class ChunkMap {
  // Invariant: chunks are sorted by first, and contiguous: chunks[k].last + 1 === chunks[k + 1].first.
  #chunks: ChunkBounds[] = []

  get size(): number {
    return this.#chunks.length
  }

  /** All chunks, oldest first (a copy). */
  list(): ChunkBounds[] {
    return this.#chunks.slice()
  }

  /** The chunk holding `index`, or undefined. */
  find(index: number): ChunkBounds | undefined {
    const k = this.#position(index)
    return k >= 0 ? this.#chunks[k] : undefined
  }

  /** Chunks that hold any index in [lo, hi]. */
  covering(lo: number, hi: number): ChunkBounds[] {
    const out: ChunkBounds[] = []
    let k = this.#position(lo)
    if (k < 0) k = 0
    for (; k < this.#chunks.length && this.#chunks[k].first <= hi; k++) {
      if (this.#chunks[k].last >= lo) out.push(this.#chunks[k])
    }
    return out
  }

  /** Chunks with any index >= `index`, oldest first. */
  from(index: number): ChunkBounds[] {
    let k = this.#position(index)
    if (k < 0) k = this.#chunks.length > 0 && this.#chunks[0].first > index ? 0 : this.#chunks.length
    return this.#chunks.slice(k)
  }

  push(chunk: ChunkBounds): void {
    const tail = this.#chunks[this.#chunks.length - 1]
    if (tail !== undefined && tail.last + 1 !== chunk.first) {
      throw new RangeError(`chunk [${chunk.first}, ${chunk.last}] does not follow [${tail.first}, ${tail.last}]`)
    }
    this.#chunks.push(chunk)
  }

  /** Removes chunks that start at or after `index`, and shortens the one that straddles it. */
  truncateFrom(index: number): void {
    while (this.#chunks.length > 0 && this.#chunks[this.#chunks.length - 1].first >= index) this.#chunks.pop()
    const tail = this.#chunks[this.#chunks.length - 1]
    if (tail !== undefined && tail.last >= index) this.#chunks[this.#chunks.length - 1] = { first: tail.first, last: index - 1 }
  }

  /** Removes chunks that end before `index`. */
  dropBefore(index: number): void {
    let k = 0
    while (k < this.#chunks.length && this.#chunks[k].last < index) k++
    if (k > 0) this.#chunks.splice(0, k)
  }

  clear(): void {
    this.#chunks = []
  }

  #position(index: number): number {
    let lo = 0
    let hi = this.#chunks.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const c = this.#chunks[mid]
      if (index < c.first) hi = mid - 1
      else if (index > c.last) lo = mid + 1
      else return mid
    }
    return -1
  }
}
