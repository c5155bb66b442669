/**
 * Byte-level reads of a generation, the one interface every algorithm of the store reads
 * through: {@link DiskSource} reads the database (from an explicit snapshot when it has one),
 * and `Overlay` (overlay.ts) adds the writes of a batch being prepared on top of it, so that the
 * same range, compare and compaction code serves reads, transactions and batches.
 *
 * @module
 */
import type { AbstractSnapshot } from 'abstract-level'
import type { Generation, SublevelName } from './layout.js'

/** Bounds of a scan; keys are raw bytes of the sublevel. */
export interface ScanRange {
  readonly gte?: Uint8Array
  readonly gt?: Uint8Array
  readonly lt?: Uint8Array
  readonly lte?: Uint8Array
}

/** Reads of one generation's sublevels. Scans are forward, in key order. */
export interface ReadSource {
  get(sublevel: SublevelName, key: Uint8Array): Promise<Uint8Array | undefined>
  getMany(sublevel: SublevelName, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  entries(sublevel: SublevelName, range: ScanRange): AsyncIterable<[Uint8Array, Uint8Array]>
  keys(sublevel: SublevelName, range: ScanRange): AsyncIterable<Uint8Array>
}

/** Drops undefined bounds: abstract-level treats a present-but-undefined bound as an error. */
function bounds(range: ScanRange): ScanRange {
  const out: { gte?: Uint8Array; gt?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array } = {}
  if (range.gte !== undefined) out.gte = range.gte
  if (range.gt !== undefined) out.gt = range.gt
  if (range.lt !== undefined) out.lt = range.lt
  if (range.lte !== undefined) out.lte = range.lte
  return out
}

/** Reads the database directly, or from `snapshot` for a point-in-time view. */
export class DiskSource implements ReadSource {
  readonly #generation: Generation
  readonly #snapshot: AbstractSnapshot | undefined

  constructor(generation: Generation, snapshot?: AbstractSnapshot) {
    this.#generation = generation
    this.#snapshot = snapshot
  }

  get(sublevel: SublevelName, key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#generation[sublevel].get(key, this.#options())
  }

  getMany(sublevel: SublevelName, keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    if (keys.length === 0) return Promise.resolve([])
    return this.#generation[sublevel].getMany(keys, this.#options())
  }

  entries(sublevel: SublevelName, range: ScanRange): AsyncIterable<[Uint8Array, Uint8Array]> {
    return this.#generation[sublevel].iterator({ ...bounds(range), ...this.#options() })
  }

  keys(sublevel: SublevelName, range: ScanRange): AsyncIterable<Uint8Array> {
    return this.#generation[sublevel].keys({ ...bounds(range), ...this.#options() })
  }

  #options(): { snapshot?: AbstractSnapshot } {
    return this.#snapshot === undefined ? {} : { snapshot: this.#snapshot }
  }
}
