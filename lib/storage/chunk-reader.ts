/**
 * Reading old chunks of the log back from disk, for entries that fell out of the hot tail. The
 * store's view is synchronous, so a miss starts a read and answers `UNAVAILABLE`; the read verifies
 * each chunk again (checksum, bounds, every term against the in-memory terms), fills the chunk cache
 * and reports, and the caller asks again.
 *
 * @module
 */
import { CorruptLogError, MetastoreError } from '../errors.js'
import type { Entry } from '../raft/types.js'
import { ChunkCache } from './chunk-cache.js'
import type { ChunkBounds, ChunkMap } from './chunk-map.js'
import { describeEngineError } from './engine-errors.js'
import { indexKey, parseIndexKey } from './index-key.js'
import type { StoreLayout } from './level-database.js'
import { decodeChunk, MalformedRecordError } from './record-codec.js'
import { openRecord } from './record.js'
import type { TailCache } from './tail-cache.js'
import type { TermRuns } from './term-runs.js'

/** At most this many chunks are read back by one request. */
const MAX_LOAD_CHUNKS = 64

export interface ChunkReaderOptions {
  readonly layout: StoreLayout
  readonly location: string
  /** The store's view, read (never changed) here. */
  readonly chunks: ChunkMap
  readonly terms: TermRuns
  readonly tail: TailCache
  readonly cacheBytes: number
  /** Called when a read started by {@link ChunkReader.request} for [lo, hi) has finished. */
  readonly loaded: (range: { lo: number; hi: number }) => void
}

export class ChunkReader {
  /** Chunks read back, least recently used first out. */
  readonly cache: ChunkCache
  /** Reads started, for stats. */
  loads = 0
  readonly #options: ChunkReaderOptions
  readonly #chunks: ChunkMap
  readonly #terms: TermRuns
  readonly #tail: TailCache
  // Bumped around every write that rewrites or drops stored chunks, so that a read that overlapped
  // it is thrown away instead of filling the cache with what is no longer the log.
  #generation = 0
  readonly #loads = new Map<number, Promise<void>>()
  #loadFailure: MetastoreError | undefined

  constructor(options: ChunkReaderOptions) {
    this.#options = options
    this.#chunks = options.chunks
    this.#terms = options.terms
    this.#tail = options.tail
    this.cache = new ChunkCache(options.cacheBytes)
  }

  /** The cached chunk starting at `first`, if any. */
  cached(first: number): Entry[] | undefined {
    return this.cache.get(first)
  }

  /** Call before and after a write that rewrites or drops stored chunks. */
  invalidate(): void {
    this.#generation++
  }

  /** Resolves when no read is under way. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.#loads.values()])
  }

  /** All entries of a stored chunk, from memory if there, else from disk (verified). */
  async read(bounds: ChunkBounds): Promise<Entry[]> {
    const out: Entry[] = []
    if (bounds.first >= this.#tail.first) {
      for (let i = bounds.first; i <= bounds.last; i++) out.push(this.#tail.get(i)!)
      return out
    }
    const cached = this.cache.get(bounds.first)
    if (cached !== undefined) return cached
    const key = indexKey(bounds.first)
    let value: Uint8Array | undefined
    try {
      value = await this.#options.layout.log.get(key)
    } catch (err) {
      throw this.#corrupt(bounds.first, `reading log chunk ${bounds.first} failed: ${describeEngineError(err)}`)
    }
    return this.#checkLoadedChunk(key, value, bounds)
  }

  #checkLoadedChunk(key: Uint8Array, value: Uint8Array | undefined, bounds: ChunkBounds): Entry[] {
    if (value === undefined) throw this.#corrupt(bounds.first, `log chunk ${bounds.first} is missing`)
    const payload = openRecord(key, value)
    if (typeof payload === 'string') throw this.#corrupt(bounds.first, `log chunk ${bounds.first} failed its checksum (${payload})`)
    let entries: Entry[]
    try {
      entries = decodeChunk(payload)
    } catch (err) {
      if (err instanceof MalformedRecordError) throw this.#corrupt(bounds.first, `log chunk ${bounds.first} is malformed`)
      throw err
    }
    const last = entries[0].index + entries.length - 1
    if (entries[0].index !== bounds.first || last !== bounds.last) {
      throw this.#corrupt(bounds.first, `log chunk ${bounds.first} holds ${entries[0].index}..${last}, expected ..${bounds.last}`)
    }
    for (const e of entries) {
      if (e.index > this.#terms.baseIndex && e.term !== this.#terms.termAt(e.index)) {
        throw this.#corrupt(e.index, `log entry ${e.index} has term ${e.term}, expected ${this.#terms.termAt(e.index)}`)
      }
    }
    return entries
  }

  #corrupt(index: number, message: string): CorruptLogError {
    return new CorruptLogError(`${this.#options.location} (log)`, index, message)
  }

  /**
   * Starts reading the chunks that hold [lo, hi) and are not in memory, unless already under way;
   * throws the failure of an earlier read instead, if any.
   */
  request(lo: number, hi: number): void {
    if (this.#loadFailure !== undefined) throw this.#loadFailure
    const end = Math.min(hi, this.#tail.first) - 1
    const wanted: ChunkBounds[] = []
    for (const c of this.#chunks.covering(lo, end)) {
      if (this.#loads.has(c.first)) {
        if (wanted.length === 0) continue
        break
      }
      if (this.cache.get(c.first) !== undefined) continue
      wanted.push(c)
      if (wanted.length >= MAX_LOAD_CHUNKS) break
    }
    if (wanted.length === 0) return
    const load = this.#load(wanted, lo, hi)
    for (const c of wanted) this.#loads.set(c.first, load)
    void load.finally(() => {
      for (const c of wanted) if (this.#loads.get(c.first) === load) this.#loads.delete(c.first)
    })
  }

  async #load(wanted: ChunkBounds[], lo: number, hi: number): Promise<void> {
    const generation = this.#generation
    this.loads++
    const loaded: Entry[][] = []
    try {
      const byFirst = new Map(wanted.map((c) => [c.first, c]))
      for await (const [key, value] of this.#options.layout.log.iterator({
        gte: indexKey(wanted[0].first),
        lte: indexKey(wanted[wanted.length - 1].first),
      })) {
        if (generation !== this.#generation) break
        const bounds = byFirst.get(parseIndexKey(key))
        if (bounds === undefined) continue
        loaded.push(this.#checkLoadedChunk(key, value, bounds))
        byFirst.delete(bounds.first)
      }
      if (generation === this.#generation && byFirst.size > 0) {
        const first = [...byFirst.keys()][0]
        throw this.#corrupt(first, `log chunk ${first} is missing`)
      }
    } catch (err) {
      if (generation === this.#generation) {
        this.#loadFailure =
          err instanceof MetastoreError
            ? err
            : this.#corrupt(wanted[0].first, `reading old log entries failed: ${describeEngineError(err)}`)
      }
    }
    if (generation === this.#generation) for (const chunk of loaded) this.cache.set(chunk)
    // Emitted in every case: a retry then either succeeds, starts a fresh read (the log changed
    // under this one), or throws the failure.
    this.#options.loaded({ lo, hi })
  }
}
