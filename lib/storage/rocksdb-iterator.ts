/**
 * abstract-level iterators over rocksdb-native iterator streams. rocksdb-native cannot seek, so a
 * seek ends the current stream and the next read opens a new one bounded by the target (within the
 * original range, on the same snapshot).
 *
 * @module
 */
import { AbstractIterator } from 'abstract-level'
import type { RocksIteratorStream, RocksRange, RocksSession } from './rocksdb-binding.js'
import { destroyStream, successor, type RocksLevel } from './rocksdb-level.js'

/** The options abstract-level hands to `_iterator()` (keys already encoded as buffers). */
export interface RocksIteratorOptions {
  readonly gt?: Buffer
  readonly gte?: Buffer
  readonly lt?: Buffer
  readonly lte?: Buffer
  readonly reverse: boolean
  readonly limit: number
  readonly keys: boolean
  readonly values: boolean
}

/** Reads per native call; larger batches make long scans (the log at open) cheaper. */
const CAPACITY = 128

function max(a: Buffer | undefined, b: Buffer | undefined): Buffer | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Buffer.compare(a, b) >= 0 ? a : b
}

function min(a: Buffer | undefined, b: Buffer | undefined): Buffer | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Buffer.compare(a, b) <= 0 ? a : b
}

export class RocksIterator extends AbstractIterator<RocksLevel, Buffer, Buffer> {
  readonly #session: RocksSession
  readonly #ownsSession: boolean
  readonly #reverse: boolean
  readonly #values: boolean
  // The range as [lower, upper): gt and lte are turned into gte and lt bounds.
  readonly #lower: Buffer | undefined
  readonly #upper: Buffer | undefined
  #stream: RocksIteratorStream | undefined
  #reader: AsyncIterator<{ key: Buffer; value: Buffer | null }> | undefined
  #seekTarget: Buffer | undefined

  constructor(db: RocksLevel, session: RocksSession, ownsSession: boolean, options: RocksIteratorOptions) {
    super(db, options as ConstructorParameters<typeof AbstractIterator<RocksLevel, Buffer, Buffer>>[1])
    this.#session = session
    this.#ownsSession = ownsSession
    this.#reverse = options.reverse
    this.#values = options.values
    this.#lower = options.gte ?? (options.gt !== undefined ? successor(options.gt) : undefined)
    // lte takes precedence over lt, as gte does over gt (abstract-level's range semantics).
    this.#upper = options.lte !== undefined ? successor(options.lte) : options.lt
  }

  async #open(): Promise<AsyncIterator<{ key: Buffer; value: Buffer | null }> | undefined> {
    if (this.#seekTarget !== undefined) {
      const target = this.#seekTarget
      this.#seekTarget = undefined
      await this.#end()
      return this.#start(target)
    }
    return this.#reader ?? this.#start(undefined)
  }

  #start(target: Buffer | undefined): AsyncIterator<{ key: Buffer; value: Buffer | null }> | undefined {
    let lower = this.#lower
    let upper = this.#upper
    if (target !== undefined) {
      if (this.#reverse) upper = min(upper, successor(target))
      else lower = max(lower, target)
    }
    // rocksdb-native reads an empty bound as "none", so an empty upper bound (nothing is below it)
    // and an empty range are answered here.
    if (upper !== undefined && (upper.length === 0 || (lower !== undefined && Buffer.compare(lower, upper) >= 0))) {
      return undefined
    }
    const range: RocksRange = {}
    if (lower !== undefined && lower.length > 0) range.gte = lower
    if (upper !== undefined) range.lt = upper
    this.#stream = this.#session.iterator(range, { reverse: this.#reverse, values: this.#values, capacity: CAPACITY })
    this.#reader = this.#stream[Symbol.asyncIterator]()
    return this.#reader
  }

  async #end(): Promise<void> {
    const stream = this.#stream
    this.#stream = undefined
    this.#reader = undefined
    if (stream !== undefined) await destroyStream(stream)
  }

  async _next(): Promise<[Buffer, Buffer] | undefined> {
    const reader = await this.#open()
    if (reader === undefined) return undefined
    const item = await reader.next()
    if (item.done === true) return undefined
    return [item.value.key, item.value.value ?? Buffer.alloc(0)]
  }

  async _nextv(size: number): Promise<Array<[Buffer, Buffer]>> {
    const out: Array<[Buffer, Buffer]> = []
    while (out.length < size) {
      const item = await this._next()
      if (item === undefined) break
      out.push(item)
    }
    return out
  }

  async _all(): Promise<Array<[Buffer, Buffer]>> {
    const out: Array<[Buffer, Buffer]> = []
    const remaining = this.limit - this.count
    while (out.length < remaining) {
      const item = await this._next()
      if (item === undefined) break
      out.push(item)
    }
    return out
  }

  _seek(target: Buffer): void {
    this.#seekTarget = target
  }

  async _close(): Promise<void> {
    await this.#end()
    if (this.#ownsSession) await this.#session.close()
  }
}
