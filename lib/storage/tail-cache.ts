/**
 * The hot tail of the log in memory: the most recent entries, which a leader replicates to followers
 * that keep up and a node applies right after persisting, so neither has to read the disk.
 *
 * @module
 */
import { entrySize, type Entry } from '../raft/types.js'

export class TailCache {
  readonly #maxEntries: number
  readonly #maxBytes: number
  // Invariant: #entries[i].index === #first + i, and the last cached entry is the last of the log.
  #entries: Entry[] = []
  #first: number
  #bytes = 0

  /** An empty cache whose next entry will be `nextIndex`. */
  constructor(nextIndex: number, maxEntries: number, maxBytes: number) {
    this.#first = nextIndex
    this.#maxEntries = maxEntries
    this.#maxBytes = maxBytes
  }

  /** The first index held; `lastIndex + 1` when empty. */
  get first(): number {
    return this.#first
  }

  get length(): number {
    return this.#entries.length
  }

  get bytes(): number {
    return this.#bytes
  }

  /** The entry at `index`, or undefined when it is not cached. */
  get(index: number): Entry | undefined {
    return index >= this.#first ? this.#entries[index - this.#first] : undefined
  }

  /** Empties the cache; the next entry appended will be `nextIndex`. */
  reset(nextIndex: number): void {
    this.#entries = []
    this.#first = nextIndex
    this.#bytes = 0
  }

  /** Drops the indexes >= `index`. */
  truncateFrom(index: number): void {
    if (index <= this.#first) {
      this.reset(index)
      return
    }
    const keep = index - this.#first
    for (let i = keep; i < this.#entries.length; i++) this.#bytes -= entrySize(this.#entries[i])
    if (keep < this.#entries.length) this.#entries.length = keep
  }

  /** Appends entries that directly follow the cached ones, then evicts the oldest over budget. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    if (entries[0].index !== this.#first + this.#entries.length) {
      throw new RangeError(`cache append at ${entries[0].index}, expected ${this.#first + this.#entries.length}`)
    }
    for (const e of entries) {
      this.#entries.push(e)
      this.#bytes += entrySize(e)
    }
    this.#evict()
  }

  /** Drops the indexes < `index` (compaction). */
  dropBefore(index: number): void {
    if (index <= this.#first) return
    const n = Math.min(index - this.#first, this.#entries.length)
    for (let i = 0; i < n; i++) this.#bytes -= entrySize(this.#entries[i])
    this.#entries.splice(0, n)
    this.#first += n
    if (this.#entries.length === 0) this.#first = index
  }

  #evict(): void {
    if (this.#entries.length <= this.#maxEntries && this.#bytes <= this.#maxBytes) return
    // Evict down to 3/4 of the budget at once: splice is O(n), so amortise it over many appends.
    let n = 0
    let bytes = this.#bytes
    const targetEntries = Math.floor(this.#maxEntries * 0.75)
    const targetBytes = Math.floor(this.#maxBytes * 0.75)
    while (n < this.#entries.length - 1 && (this.#entries.length - n > targetEntries || bytes > targetBytes)) {
      bytes -= entrySize(this.#entries[n])
      n++
    }
    this.#entries.splice(0, n)
    this.#first += n
    this.#bytes = bytes
  }
}
