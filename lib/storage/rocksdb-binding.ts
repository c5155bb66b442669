/**
 * Loading `rocksdb-native`, the optional RocksDB binding, and the part of its API the adapter uses.
 * It is an optional dependency: everything else works without it, and asking for RocksDB without
 * it fails with a `STORAGE_UNAVAILABLE` error that says how to install it.
 *
 * @module
 */
import { createRequire } from 'node:module'
import { MetastoreError } from '../errors.js'

/** A write batch of rocksdb-native: operations are queued, then `flush()` applies them atomically. */
export interface RocksWriteBatch {
  tryPut(key: Uint8Array, value: Uint8Array): void
  tryDelete(key: Uint8Array): void
  tryDeleteRange(start: Uint8Array, end: Uint8Array): void
  flush(): Promise<void>
}

/** A read batch of rocksdb-native: gets are queued, then `tryFlush()` sends them. */
export interface RocksReadBatch {
  get(key: Uint8Array): Promise<Buffer | null>
  tryFlush(): void
}

/** rocksdb-native's iterator, a streamx Readable of `{ key, value }`. */
export interface RocksIteratorStream extends AsyncIterable<{ key: Buffer; value: Buffer | null }> {
  readonly destroyed: boolean
  destroy(err?: Error): void
  once(event: 'close', listener: () => void): unknown
}

/** Bounds of a rocksdb-native iterator; an empty buffer means "no bound". */
export interface RocksRange {
  gte?: Uint8Array
  lt?: Uint8Array
}

/** A rocksdb-native database or session (a snapshot session reads a fixed point in time). */
export interface RocksSession {
  ready(): Promise<void>
  close(options?: { force?: boolean }): Promise<void>
  get(key: Uint8Array): Promise<Buffer | null>
  read(options?: { capacity?: number; autoDestroy?: boolean }): RocksReadBatch
  write(options?: { capacity?: number; autoDestroy?: boolean }): RocksWriteBatch
  iterator(range: RocksRange, options?: { reverse?: boolean; values?: boolean; capacity?: number }): RocksIteratorStream
  snapshot(): RocksSession
  currentWalFile(): Promise<{ path: string; number: number; size: number }>
  /** Reads a RocksDB property; the native read happens synchronously, at the call. */
  getProperty(name: string): Promise<unknown>
}

export interface RocksOpenOptions {
  createIfMissing?: boolean
}

export type RocksConstructor = new (path: string, options?: RocksOpenOptions) => RocksSession

let cached: RocksConstructor | undefined

/**
 * Returns the rocksdb-native constructor, loading it on first use.
 *
 * @param moduleName - the package to load; only tests pass another name (to check the error).
 */
export function loadRocksBinding(moduleName = 'rocksdb-native'): RocksConstructor {
  if (moduleName === 'rocksdb-native' && cached !== undefined) return cached
  const require = createRequire(import.meta.url)
  let loaded: unknown
  try {
    loaded = require(moduleName)
  } catch (err) {
    throw new MetastoreError(
      'STORAGE_UNAVAILABLE',
      `RocksDB storage needs the optional dependency ${moduleName} (npm install ${moduleName}), ` +
        `which could not be loaded: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    )
  }
  if (typeof loaded !== 'function') {
    throw new MetastoreError('STORAGE_UNAVAILABLE', `${moduleName} did not export a RocksDB constructor`)
  }
  const ctor = loaded as RocksConstructor
  if (moduleName === 'rocksdb-native') cached = ctor
  return ctor
}
