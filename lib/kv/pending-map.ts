/**
 * The writes of one sublevel in a batch being prepared: a map from key to new value (or
 * deletion) that can also be read in key order, for merging with a database scan.
 *
 * @module
 */
import { toLatin1 } from './bytes.js'
import type { ScanRange } from './read-source.js'

/** One pending write; `value` undefined is a deletion. */
export interface PendingWrite {
  readonly key: Uint8Array
  readonly value: Uint8Array | undefined
}

interface Slot {
  /** The key as a latin1 string: compares as the bytes do. */
  readonly id: string
  readonly key: Uint8Array
  value: Uint8Array | undefined
}

/**
 * Writes are appended unsorted and merged into the sorted list only when a scan needs order,
 * so a batch of many writes and few scans sorts rarely.
 */
export class PendingMap {
  readonly #slots = new Map<string, Slot>()
  #sorted: Slot[] = []
  #unsorted: Slot[] = []

  get size(): number {
    return this.#slots.size
  }

  /** The pending write of `key`, if any (a deletion has `value` undefined). */
  get(key: Uint8Array): PendingWrite | undefined {
    const slot = this.#slots.get(toLatin1(key))
    return slot === undefined ? undefined : { key: slot.key, value: slot.value }
  }

  /** Records a put (`value`) or a deletion (`undefined`) of `key`. */
  set(key: Uint8Array, value: Uint8Array | undefined): void {
    const id = toLatin1(key)
    const slot = this.#slots.get(id)
    if (slot !== undefined) {
      slot.value = value
      return
    }
    const created: Slot = { id, key, value }
    this.#slots.set(id, created)
    this.#unsorted.push(created)
  }

  /** The pending writes in `range`, in key order, as they are now (later writes do not change the array). */
  range(range: ScanRange): PendingWrite[] {
    if (this.#slots.size === 0) return []
    this.#sort()
    const sorted = this.#sorted
    const lower = range.gte ?? range.gt
    const upper = range.lt ?? range.lte
    let from = lower === undefined ? 0 : this.#search(toLatin1(lower), range.gt !== undefined)
    const to = upper === undefined ? sorted.length : this.#search(toLatin1(upper), range.lte !== undefined)
    const out: PendingWrite[] = []
    for (; from < to; from++) out.push({ key: sorted[from].key, value: sorted[from].value })
    return out
  }

  /** Every pending write, in no particular order. */
  *writes(): IterableIterator<PendingWrite> {
    for (const slot of this.#slots.values()) yield { key: slot.key, value: slot.value }
  }

  /** First index whose id is `> id` (when `after`) or `>= id`. */
  #search(id: string, after: boolean): number {
    const sorted = this.#sorted
    let low = 0
    let high = sorted.length
    while (low < high) {
      const mid = (low + high) >>> 1
      const below = after ? sorted[mid].id <= id : sorted[mid].id < id
      if (below) low = mid + 1
      else high = mid
    }
    return low
  }

  #sort(): void {
    if (this.#unsorted.length === 0) return
    const fresh = this.#unsorted.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    this.#unsorted = []
    const old = this.#sorted
    const merged: Slot[] = new Array(old.length + fresh.length)
    let i = 0
    let j = 0
    let k = 0
    while (i < old.length && j < fresh.length) merged[k++] = old[i].id < fresh[j].id ? old[i++] : fresh[j++]
    while (i < old.length) merged[k++] = old[i++]
    while (j < fresh.length) merged[k++] = fresh[j++]
    this.#sorted = merged
  }
}
