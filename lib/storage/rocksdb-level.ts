/**
 * An abstract-level database on RocksDB, through the `rocksdb-native` binding (optional dependency).
 * It passes abstract-level's own compliance suite (test/storage/rocksdb-abstract-level.test.ts).
 *
 * Mapping: abstract-level's batch is a rocksdb-native write batch (atomic); `sync: true` fsyncs the
 * WAL afterwards (see rocksdb-wal-sync.ts); iterators read from a RocksDB snapshot taken when they
 * are created (implicit snapshots); `db.snapshot()` is a rocksdb-native snapshot session; `clear()`
 * of a whole range is one DeleteRange tombstone.
 *
 * NB: every rocksdb-native batch and iterator holds a reference that keeps the database from
 * closing, so each one is created with `autoDestroy` or destroyed here; that is what lets a process
 * exit by itself after `close()`.
 *
 * @module
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { AbstractLevel, AbstractSnapshot } from 'abstract-level'
import { isCorruptionError, isLockError } from './engine-errors.js'
import { loadRocksBinding, type RocksSession } from './rocksdb-binding.js'
import { RocksIterator, type RocksIteratorOptions } from './rocksdb-iterator.js'
import { WalSync } from './rocksdb-wal-sync.js'

/** An error with a code in abstract-level's style (`LEVEL_*`). */
class RocksModuleError extends Error {
  readonly code: string
  constructor(message: string, code: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'ModuleError'
    this.code = code
  }
}

/** Options of the {@link RocksLevel} constructor. */
export interface RocksLevelOptions {
  readonly keyEncoding?: string
  readonly valueEncoding?: string
  readonly createIfMissing?: boolean
  readonly errorIfExists?: boolean
}

interface OpenOptions {
  readonly createIfMissing?: boolean
  readonly errorIfExists?: boolean
}

interface ReadOptions {
  readonly snapshot?: RocksSnapshot
}

interface BatchOperation {
  readonly type: 'put' | 'del'
  readonly key: Buffer
  readonly value?: Buffer
}

interface ClearOptions {
  readonly gt?: Buffer
  readonly gte?: Buffer
  readonly lt?: Buffer
  readonly lte?: Buffer
  readonly limit: number
  readonly reverse: boolean
  readonly snapshot?: RocksSnapshot
}

// NB: abstract-level's typings omit AbstractSnapshot's constructor, which takes `{ owner }`.
const SnapshotBase = AbstractSnapshot as unknown as new (options: object) => AbstractSnapshot

/** A point-in-time view (`db.snapshot()`), a rocksdb-native snapshot session. */
export class RocksSnapshot extends SnapshotBase {
  readonly session: RocksSession

  constructor(session: RocksSession, options: object) {
    super(options)
    this.session = session
  }

  async _close(): Promise<void> {
    await this.session.close()
  }
}

/** The key right after `key` in byte order: `key` + 0x00. Turns `gt`/`lte` bounds into `gte`/`lt`. */
export function successor(key: Uint8Array): Buffer {
  const out = Buffer.alloc(key.length + 1)
  out.set(key, 0)
  return out
}

/**
 * RocksDB as an abstract-level database.
 *
 * @example
 * ```ts
 * const db = new RocksLevel('./data/rocks')
 * await db.put('key', 'value')
 * await db.close()
 * ```
 */
export class RocksLevel extends AbstractLevel<string | Buffer | Uint8Array, string, string> {
  readonly #location: string
  #rocks: RocksSession | undefined
  #wal: WalSync | undefined

  constructor(location: string, options: RocksLevelOptions = {}) {
    if (typeof location !== 'string' || location === '') {
      throw new TypeError("The first argument 'location' must be a non-empty string")
    }
    super(
      {
        encodings: { buffer: true },
        seek: true,
        implicitSnapshots: true,
        explicitSnapshots: true,
        has: true,
        createIfMissing: true,
        errorIfExists: true,
        permanence: true,
      },
      options,
    )
    this.#location = location
  }

  /** The directory of the database. */
  get location(): string {
    return this.#location
  }

  #db(): RocksSession {
    if (this.#rocks === undefined) throw new RocksModuleError('Database is not open', 'LEVEL_DATABASE_NOT_OPEN')
    return this.#rocks
  }

  async _open(options: OpenOptions): Promise<void> {
    const Rocks = loadRocksBinding()
    const createIfMissing = options.createIfMissing !== false
    if (options.errorIfExists === true && existsSync(join(this.#location, 'CURRENT'))) {
      throw new RocksModuleError(`Invalid argument: ${this.#location}: exists (error_if_exists is true)`, 'LEVEL_INVALID_ARGUMENT')
    }
    const rocks = new Rocks(this.#location, { createIfMissing })
    try {
      await rocks.ready()
    } catch (err) {
      // NB: a session whose open failed must not be closed (rocksdb-native rethrows the open error
      // and holds nothing).
      if (isLockError(err)) throw new RocksModuleError(String((err as Error).message), 'LEVEL_LOCKED', err)
      if (isCorruptionError(err)) throw new RocksModuleError(String((err as Error).message), 'LEVEL_CORRUPTION', err)
      throw err
    }
    this.#rocks = rocks
    this.#wal = new WalSync(this.#location, rocks)
  }

  async _close(): Promise<void> {
    const rocks = this.#rocks
    const wal = this.#wal
    this.#rocks = undefined
    this.#wal = undefined
    await wal?.close()
    await rocks?.close()
  }

  async _get(key: Buffer, options: ReadOptions): Promise<Buffer | undefined> {
    const value = await (options.snapshot?.session ?? this.#db()).get(key)
    return value ?? undefined
  }

  async _getMany(keys: Buffer[], options: ReadOptions): Promise<Array<Buffer | undefined>> {
    const batch = (options.snapshot?.session ?? this.#db()).read({ capacity: keys.length, autoDestroy: true })
    const pending = keys.map((key) => batch.get(key))
    batch.tryFlush()
    const values = await Promise.all(pending)
    return values.map((v) => v ?? undefined)
  }

  async _has(key: Buffer, options: ReadOptions): Promise<boolean> {
    return (await this._get(key, options)) !== undefined
  }

  async _hasMany(keys: Buffer[], options: ReadOptions): Promise<boolean[]> {
    return (await this._getMany(keys, options)).map((v) => v !== undefined)
  }

  async _put(key: Buffer, value: Buffer, options: { sync?: boolean }): Promise<void> {
    await this._batch([{ type: 'put', key, value }], options)
  }

  async _del(key: Buffer, options: { sync?: boolean }): Promise<void> {
    await this._batch([{ type: 'del', key }], options)
  }

  async _batch(operations: readonly BatchOperation[], options: { sync?: boolean }): Promise<void> {
    const rocks = this.#db()
    const wal = this.#wal!
    const mark = options.sync === true ? wal.mark() : undefined
    const batch = rocks.write({ capacity: operations.length, autoDestroy: true })
    for (const op of operations) {
      if (op.type === 'put') batch.tryPut(op.key, op.value!)
      else batch.tryDelete(op.key)
    }
    await batch.flush()
    if (mark !== undefined) await wal.sync(mark)
  }

  async _clear(options: ClearOptions): Promise<void> {
    const rocks = this.#db()
    const lower = options.gte ?? (options.gt !== undefined ? successor(options.gt) : undefined)
    // lte takes precedence over lt, as gte does over gt (abstract-level's range semantics).
    let upper = options.lte !== undefined ? successor(options.lte) : options.lt
    if (options.limit === -1 && options.snapshot === undefined) {
      if (upper === undefined) {
        // DeleteRange needs an end key: use the successor of the last key in range.
        const last = await this.#lastKey(lower)
        if (last === undefined) return
        upper = successor(last)
      }
      const start = lower ?? Buffer.alloc(0)
      if (Buffer.compare(start, upper) >= 0) return
      const batch = rocks.write({ capacity: 1, autoDestroy: true })
      batch.tryDeleteRange(start, upper)
      await batch.flush()
      return
    }
    // A limited (or snapshot-bound) clear deletes key by key, in order, up to the limit.
    const source = options.snapshot?.session ?? rocks
    const stream = source.iterator(
      { ...(lower !== undefined ? { gte: lower } : {}), ...(upper !== undefined ? { lt: upper } : {}) },
      { reverse: options.reverse, values: false, capacity: 256 },
    )
    let remaining = options.limit === -1 ? Infinity : options.limit
    let keys: Buffer[] = []
    const flush = async (): Promise<void> => {
      if (keys.length === 0) return
      const batch = rocks.write({ capacity: keys.length, autoDestroy: true })
      for (const key of keys) batch.tryDelete(key)
      keys = []
      await batch.flush()
    }
    try {
      if (upper !== undefined && upper.length === 0) return
      for await (const { key } of stream) {
        if (remaining-- <= 0) break
        keys.push(key)
        if (keys.length >= 1000) await flush()
      }
      await flush()
    } finally {
      await destroyStream(stream)
    }
  }

  async #lastKey(lower: Buffer | undefined): Promise<Buffer | undefined> {
    const stream = this.#db().iterator(lower !== undefined ? { gte: lower } : {}, { reverse: true, values: false, capacity: 1 })
    try {
      for await (const { key } of stream) return key
      return undefined
    } finally {
      await destroyStream(stream)
    }
  }

  _iterator(options: RocksIteratorOptions): RocksIterator {
    const snapshot = (options as ReadOptions).snapshot
    if (snapshot !== undefined) return new RocksIterator(this, snapshot.session, false, options)
    // An implicit snapshot: the iterator sees the database as it was when it was created, though
    // rocksdb-native opens its iterator lazily at the first read.
    return new RocksIterator(this, this.#db().snapshot(), true, options)
  }

  _snapshot(options: object): RocksSnapshot {
    return new RocksSnapshot(this.#db().snapshot(), options)
  }
}

/** Destroys a rocksdb-native iterator stream and waits until its native handle is released. */
export async function destroyStream(stream: { readonly destroyed: boolean; destroy(): void; once(e: 'close', l: () => void): unknown }): Promise<void> {
  if (stream.destroyed) return
  await new Promise<void>((resolve) => {
    stream.once('close', resolve)
    stream.destroy()
  })
}
