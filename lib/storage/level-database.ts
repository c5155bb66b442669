/**
 * The database types the store accepts and the sublevels it lays out in them.
 *
 * @module
 */
import type { AbstractBatchOperation, AbstractBatchOptions, AbstractLevel, AbstractSublevel } from 'abstract-level'

/**
 * Any `abstract-level` database: memory-level, classic-level, the built-in RocksDB adapter, or a
 * user's own. NB: the type parameters are `any` because abstract-level's generic methods make
 * `AbstractLevel<X, string, string>` unassignable to any narrower common type; the store itself
 * only ever writes through sublevels with explicit `view`/`utf8` encodings.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LevelDatabase = AbstractLevel<any, any, any>

/** A sublevel of a {@link LevelDatabase} with explicit key and value types. */
export type LevelSublevel<K, V> = AbstractSublevel<LevelDatabase, string | Buffer | Uint8Array, K, V>

/** The put and delete operations `save({ extraOps })` accepts, as `db.batch()` does. */
export type ExtraOperation = AbstractBatchOperation<LevelDatabase, unknown, unknown>

/** The sublevels of one store. */
export interface StoreLayout {
  readonly db: LevelDatabase
  /** Log chunks keyed by the big-endian index of their first entry. */
  readonly log: LevelSublevel<Uint8Array, Uint8Array>
  /** Small records: layout version, hard state, conf state, log start, snapshot metadata. */
  readonly state: LevelSublevel<string, Uint8Array>
  /** Snapshot data in pieces keyed by (snapshot index, piece number). */
  readonly snapshotData: LevelSublevel<Uint8Array, Uint8Array>
}

/** Creates the sublevels under `prefix` (one parent sublevel, so the state machine can sit beside it). */
export function storeLayout(db: LevelDatabase, prefix: string): StoreLayout {
  const root = db.sublevel(prefix)
  return {
    db,
    log: root.sublevel<Uint8Array, Uint8Array>('log', { keyEncoding: 'view', valueEncoding: 'view' }),
    state: root.sublevel<string, Uint8Array>('state', { keyEncoding: 'utf8', valueEncoding: 'view' }),
    snapshotData: root.sublevel<Uint8Array, Uint8Array>('snapshot-data', { keyEncoding: 'view', valueEncoding: 'view' }),
  }
}

/** The keys of the state sublevel. */
export const StateKey = {
  format: 'format',
  hardState: 'hard-state',
  confState: 'conf-state',
  logStart: 'log-start',
  snapshot: 'snapshot',
} as const

/** The on-disk layout version this code writes and reads. */
export const LAYOUT_VERSION = 1

/**
 * Batch options asking for a durable write. `sync` is honoured by classic-level and the RocksDB
 * adapter (and ignored by memory-level) but is missing from abstract-level's option types.
 */
export function syncOptions<K, V>(sync: boolean): AbstractBatchOptions<K, V> {
  return { sync } as unknown as AbstractBatchOptions<K, V>
}
