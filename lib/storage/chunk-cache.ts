/**
 * Old chunks of the log read back from disk on demand (a follower far behind, a slow reader), kept
 * in a small least-recently-used cache so that a follower catching up reads each chunk once.
 *
 * @module
 */
import { entrySize, type Entry } from '../raft/types.js'

export class ChunkCache {
  readonly #maxBytes: number
  // Map iteration order is insertion order: re-inserting on use makes the first key the LRU one.
  readonly #chunks = new Map<number, { entries: Entry[]; bytes: number }>()
  #bytes = 0

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** The cached chunk whose first index is `first`, or undefined. */
  get(first: number): Entry[] | undefined {
    const hit = this.#chunks.get(first)
    if (hit === undefined) return undefined
    this.#chunks.delete(first)
    this.#chunks.set(first, hit)
    return hit.entries
  }

  set(entries: Entry[]): void {
    if (entries.length === 0) return
    const first = entries[0].index
    this.#delete(first)
    let bytes = 0
    for (const e of entries) bytes += entrySize(e)
    this.#chunks.set(first, { entries, bytes })
    this.#bytes += bytes
    for (const [key] of this.#chunks) {
      if (this.#bytes <= this.#maxBytes || this.#chunks.size === 1) break
      this.#delete(key)
    }
  }

  /** Forgets every chunk that holds an index >= `index` (the log was truncated there). */
  invalidateFrom(index: number): void {
    for (const [first, chunk] of [...this.#chunks]) {
      if (chunk.entries[chunk.entries.length - 1].index >= index) this.#delete(first)
    }
  }

  /** Forgets every chunk that ends before `index` (compacted). */
  dropBefore(index: number): void {
    for (const [first, chunk] of [...this.#chunks]) {
      if (chunk.entries[chunk.entries.length - 1].index < index) this.#delete(first)
    }
  }

  clear(): void {
    this.#chunks.clear()
    this.#bytes = 0
  }

  #delete(first: number): void {
    const chunk = this.#chunks.get(first)
    if (chunk === undefined) return
    this.#bytes -= chunk.bytes
    this.#chunks.delete(first)
  }
}
