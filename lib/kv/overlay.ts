/**
 * A {@link ReadSource} with a batch's pending writes on top: what the next command of the batch
 * must see. Applying a batch of entries reads and writes only through an `Overlay`, and its
 * writes become the batch's operations, so the result is the same however the driver splits
 * the committed entries into batches.
 *
 * @module
 */
import { compareBytes, toLatin1 } from './bytes.js'
import { SUBLEVEL_NAMES, prefixedKey } from './layout.js'
import type { Generation, SublevelName } from './layout.js'
import { PendingMap } from './pending-map.js'
import type { ReadSource, ScanRange } from './read-source.js'
import type { ExtraOperation } from '../storage/level-database.js'

/** A batch's pending writes over a read source; see the module comment. */
export class Overlay implements ReadSource {
  readonly #base: ReadSource
  readonly #pending: Record<SublevelName, PendingMap>
  /**
   * Values read ahead from the base with one `getMany` (see {@link prefetch}). Valid for the
   * overlay's life: nothing else writes the base meanwhile (the store's write lock).
   */
  readonly #prefetched = new Map<string, Uint8Array | undefined>()

  constructor(base: ReadSource) {
    this.#base = base
    this.#pending = Object.fromEntries(SUBLEVEL_NAMES.map((name) => [name, new PendingMap()])) as Record<SublevelName, PendingMap>
  }

  /** Reads `keys` of `sublevel` from the base in one round trip, for the point reads that will follow. */
  async prefetch(sublevel: SublevelName, keys: Uint8Array[]): Promise<void> {
    const wanted = new Map<string, Uint8Array>()
    for (const key of keys) {
      const id = `${sublevel}:${toLatin1(key)}`
      if (!this.#prefetched.has(id)) wanted.set(id, key)
    }
    if (wanted.size === 0) return
    const values = await this.#base.getMany(sublevel, [...wanted.values()])
    let i = 0
    for (const id of wanted.keys()) this.#prefetched.set(id, values[i++])
  }

  put(sublevel: SublevelName, key: Uint8Array, value: Uint8Array): void {
    this.#pending[sublevel].set(key, value)
  }

  del(sublevel: SublevelName, key: Uint8Array): void {
    this.#pending[sublevel].set(key, undefined)
  }

  /** Number of pending writes. */
  get size(): number {
    let n = 0
    for (const name of SUBLEVEL_NAMES) n += this.#pending[name].size
    return n
  }

  async get(sublevel: SublevelName, key: Uint8Array): Promise<Uint8Array | undefined> {
    const write = this.#pending[sublevel].get(key)
    if (write !== undefined) return write.value
    if (this.#prefetched.size > 0) {
      const id = `${sublevel}:${toLatin1(key)}`
      if (this.#prefetched.has(id)) return this.#prefetched.get(id)
    }
    return this.#base.get(sublevel, key)
  }

  async getMany(sublevel: SublevelName, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    const pending = this.#pending[sublevel]
    const out: Array<Uint8Array | undefined> = new Array(keys.length)
    const missing: number[] = []
    keys.forEach((key, i) => {
      const write = pending.get(key)
      if (write === undefined) missing.push(i)
      else out[i] = write.value
    })
    const found = await this.#base.getMany(
      sublevel,
      missing.map((i) => keys[i]),
    )
    missing.forEach((i, j) => (out[i] = found[j]))
    return out
  }

  async *entries(sublevel: SublevelName, range: ScanRange): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const pending = this.#pending[sublevel].range(range)
    if (pending.length === 0) {
      yield* this.#base.entries(sublevel, range)
      return
    }
    let i = 0
    for await (const [key, value] of this.#base.entries(sublevel, range)) {
      while (i < pending.length && compareBytes(pending[i].key, key) < 0) {
        const write = pending[i++]
        if (write.value !== undefined) yield [write.key, write.value]
      }
      if (i < pending.length && compareBytes(pending[i].key, key) === 0) {
        const write = pending[i++]
        if (write.value !== undefined) yield [write.key, write.value]
        continue
      }
      yield [key, value]
    }
    for (; i < pending.length; i++) {
      const write = pending[i]
      if (write.value !== undefined) yield [write.key, write.value]
    }
  }

  async *keys(sublevel: SublevelName, range: ScanRange): AsyncGenerator<Uint8Array> {
    if (this.#pending[sublevel].range(range).length === 0) {
      yield* this.#base.keys(sublevel, range)
      return
    }
    for await (const [key] of this.entries(sublevel, range)) yield key
  }

  /** The pending writes of one sublevel (`value` undefined: a delete), in no particular order. */
  writesOf(sublevel: SublevelName): IterableIterator<{ key: Uint8Array; value: Uint8Array | undefined }> {
    return this.#pending[sublevel].writes()
  }

  /**
   * The pending writes as batch operations for the ROOT database (`sublevel.db`): keys carry
   * their sublevel's whole prefix already. NB: abstract-level prefixes a sublevel operation once
   * per level of nesting, which costs as much as LevelDB's own work on a put.
   */
  operations(generation: Generation): ExtraOperation[] {
    const ops: ExtraOperation[] = []
    for (const name of SUBLEVEL_NAMES) {
      const sublevel = generation[name]
      for (const write of this.#pending[name].writes()) {
        const key = prefixedKey(sublevel, write.key)
        if (write.value === undefined) ops.push({ type: 'del', key, keyEncoding: 'view' })
        else ops.push({ type: 'put', key, value: write.value, keyEncoding: 'view', valueEncoding: 'view' })
      }
    }
    return ops
  }
}
