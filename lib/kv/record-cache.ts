/**
 * The current records of recently used keys (the `key` sublevel) and of clients (the `dedup`
 * sublevel), as they are on disk after the last written batch: a bounded map in front of the
 * database for point reads. A hit costs no round trip to the database's thread pool, which is
 * what a point read and the read-modify-write of a put otherwise wait for.
 *
 * The store keeps it exact: entries are set from the database only while no batch can be written
 * (under the store's write lock, or checked against its write epoch), and every written batch
 * sets the records it wrote, in the same turn as the store's counters. `null` records a key known
 * to be absent.
 *
 * @module
 */
import { bytesEqual, pooledCopy, toLatin1 } from './bytes.js'
import type { SublevelName } from './layout.js'
import { decodeCurrentFields, type CurrentFields } from './records.js'
import type { ReadSource, ScanRange } from './read-source.js'

/** The sublevels the cache holds. */
export type CachedSublevel = Extract<SublevelName, 'key' | 'dedup'>

/**
 * Bytes an entry is charged beyond its key and value: what it costs the process, measured as
 * resident memory per entry (map slot, key string, slot object, the value's own ArrayBuffer and
 * typed array, and the heap's room to grow); about 650 bytes on Node 20 x64.
 */
export const ENTRY_OVERHEAD = 640

/** Bytes charged for a record's decoded fields, kept once a point read has decoded them (measured the same way). */
export const FIELDS_OVERHEAD = 200

/** Default bound of the cache, in bytes. */
export const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024

/**
 * A cached record and whether it was read since it was last set or given a second chance; for a
 * `key` record, its fields once a point read has decoded them (views into `value`).
 */
interface Slot {
  readonly value: Uint8Array | null
  used: boolean
  fields?: CurrentFields
}

/**
 * A bounded map of current records. Eviction is second-chance (CLOCK): the coldest entries are
 * first in the map's insertion order, and one read since it was set moves an entry to the back
 * once instead of out. A hit only marks its slot, so a read changes no map.
 */
export class RecordCache {
  readonly #maxBytes: number
  readonly #map = new Map<string, Slot>()
  #bytes = 0

  constructor(maxBytes: number = DEFAULT_CACHE_BYTES) {
    if (!(maxBytes >= 0)) throw new TypeError('cacheBytes must be a non-negative number')
    this.#maxBytes = maxBytes
  }

  /**
   * A copy of the record (decoded values are views into it, and a caller may change them),
   * `null` if known absent, `undefined` if not cached.
   */
  get(sublevel: CachedSublevel, key: Uint8Array): Uint8Array | null | undefined {
    const slot = this.#map.get(idOf(sublevel, key))
    if (slot === undefined) return undefined
    slot.used = true
    return slot.value === null ? null : pooledCopy(slot.value)
  }

  /**
   * The fields of the current record of the key whose id (see {@link keyId}) is `id`, decoded
   * on the first read and kept with the record; `null` if known absent, `undefined` if not cached.
   * The fields' `value` is a view of the cache's own bytes, which never change: copy it before it
   * leaves the store.
   */
  current(id: string): CurrentFields | null | undefined {
    const slot = this.#map.get(id)
    if (slot === undefined) return undefined
    slot.used = true
    if (slot.value === null) return null
    let fields = slot.fields
    if (fields === undefined) {
      fields = slot.fields = decodeCurrentFields(slot.value)
      this.#bytes += FIELDS_OVERHEAD
      // (Views into the record: they stay valid if the entry itself is evicted.)
      this.#evict()
    }
    return fields
  }

  /** Keeps a copy of `value`: the caller's bytes may be a view of a larger shared buffer, or change later. */
  set(sublevel: CachedSublevel, key: Uint8Array, record: Uint8Array | null): void {
    if (this.#maxBytes === 0) return
    const value = record === null ? null : Uint8Array.prototype.slice.call(record)
    const id = idOf(sublevel, key)
    const old = this.#map.get(id)
    if (old !== undefined) {
      this.#bytes -= cost(id, old)
      this.#map.delete(id)
    }
    this.#map.set(id, { value, used: false })
    this.#bytes += cost(id, { value })
    this.#evict()
  }

  #evict(): void {
    // Each pass either evicts or clears a `used` mark, so this ends within two rounds of the map.
    while (this.#bytes > this.#maxBytes) {
      const coldest = this.#map.entries().next()
      if (coldest.done === true) break
      const [id, slot] = coldest.value
      this.#map.delete(id)
      if (slot.used) {
        slot.used = false
        this.#map.set(id, slot)
      } else {
        this.#bytes -= cost(id, slot)
      }
    }
  }

  clear(): void {
    this.#map.clear()
    this.#bytes = 0
  }

  /** Entries held. */
  get size(): number {
    return this.#map.size
  }

  /** Bytes charged (an estimate of the memory held). */
  get bytes(): number {
    return this.#bytes
  }
}

/**
 * A key's id in the map: its latin1 string for the `key` sublevel (no concatenation on the path
 * of a point read), after U+0100 for `dedup` (a latin1 string never holds that code unit).
 */
function idOf(sublevel: CachedSublevel, key: Uint8Array): string {
  return sublevel === 'key' ? keyId(key) : `\u0100${toLatin1(key)}`
}

/**
 * The id of a `key` record for {@link RecordCache.current}: its latin1 string, which for a key
 * of ASCII characters is the key string itself.
 */
export function keyId(key: Uint8Array): string {
  return toLatin1(key)
}

function cost(id: string, slot: Pick<Slot, 'value' | 'fields'>): number {
  return id.length + (slot.value?.byteLength ?? 0) + ENTRY_OVERHEAD + (slot.fields === undefined ? 0 : FIELDS_OVERHEAD)
}

function cached(sublevel: SublevelName): sublevel is CachedSublevel {
  return sublevel === 'key' || sublevel === 'dedup'
}

/**
 * Reads through the cache: point reads of `key` and `dedup` records are served from it, and what
 * the base returns for a miss is kept. Only for a base that no batch can change meanwhile (the
 * committed state, read under the store's write lock).
 */
export class CachedSource implements ReadSource {
  readonly #base: ReadSource
  readonly #cache: RecordCache

  constructor(base: ReadSource, cache: RecordCache) {
    this.#base = base
    this.#cache = cache
  }

  async get(sublevel: SublevelName, key: Uint8Array): Promise<Uint8Array | undefined> {
    if (!cached(sublevel)) return this.#base.get(sublevel, key)
    const hit = this.#cache.get(sublevel, key)
    if (hit !== undefined) return hit ?? undefined
    const value = await this.#base.get(sublevel, key)
    this.#cache.set(sublevel, key, value ?? null)
    return value
  }

  async getMany(sublevel: SublevelName, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    if (!cached(sublevel)) return this.#base.getMany(sublevel, keys)
    const out: Array<Uint8Array | undefined> = new Array(keys.length)
    const missing: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const hit = this.#cache.get(sublevel, keys[i])
      if (hit === undefined) missing.push(i)
      else out[i] = hit ?? undefined
    }
    if (missing.length === 0) return out
    const found = await this.#base.getMany(
      sublevel,
      missing.map((i) => keys[i]),
    )
    missing.forEach((i, j) => {
      out[i] = found[j]
      this.#cache.set(sublevel, keys[i], found[j] ?? null)
    })
    return out
  }

  entries(sublevel: SublevelName, range: ScanRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    return this.#base.entries(sublevel, range)
  }

  keys(sublevel: SublevelName, range: ScanRange): AsyncIterable<Uint8Array> {
    return this.#base.keys(sublevel, range)
  }
}

/** A source holding one `key` record, for a point read served from the cache. */
export class PointSource implements ReadSource {
  readonly #key: Uint8Array
  readonly #value: Uint8Array | undefined

  constructor(key: Uint8Array, value: Uint8Array | undefined) {
    this.#key = key
    this.#value = value
  }

  async get(sublevel: SublevelName, key: Uint8Array): Promise<Uint8Array | undefined> {
    if (sublevel !== 'key' || !bytesEqual(key, this.#key)) throw new Error('a point source holds one current record')
    return this.#value
  }

  async getMany(): Promise<Array<Uint8Array | undefined>> {
    throw new Error('a point source holds one current record')
  }

  entries(): AsyncIterable<[Uint8Array, Uint8Array]> {
    throw new Error('a point source holds one current record')
  }

  keys(): AsyncIterable<Uint8Array> {
    throw new Error('a point source holds one current record')
  }
}

/** Reads served from memory within one turn of the event loop before the next one waits for the following turn. */
const READS_PER_TURN = 256
let servedThisTurn = 0
let turnReset: NodeJS.Immediate | undefined

/**
 * A cached read resolves without any I/O, so a caller looping on reads would never let the
 * event loop run timers or sockets (a leader would stop sending heartbeats). After
 * {@link READS_PER_TURN} such reads in one turn, this returns a promise of the next turn to wait
 * for; otherwise `undefined`.
 */
export function nextTurnIfBusy(): Promise<void> | undefined {
  if (turnReset === undefined) {
    turnReset = setImmediate(() => {
      turnReset = undefined
      servedThisTurn = 0
    })
    // NB: the reset must not keep a process alive by itself.
    turnReset.unref()
  }
  if (++servedThisTurn <= READS_PER_TURN) return undefined
  return new Promise((resolve) => setImmediate(resolve))
}
